using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class DashboardSnippets
{
    public static void Mount(WebApplicationBuilder builder, WebApplication app)
    {
        // begin-snippet: dashboard-mount
        builder.Services.AddPatternsDashboard(o => o.Policies.Edit = "operators");
        app.MapPatternsDashboard("/patterns").RequireAuthorization();
        // end-snippet
    }

    public static WebApplication Whole(string[] args)
    {
        // begin-snippet: dashboard-whole-app
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddMassTransit(x =>
        {
            x.AddWorkflowEventProcessor()                                               // registers WorkflowEventClient
                .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<AppDb>());
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        builder.Services.AddDbContext<AppDb>(o => o.UseSqlite("Data Source=app.db"));   // AppDb maps AddWorkflowEventEntities()
        builder.Services.AddPatternsEntityFrameworkWorkflowStore<AppDb>();             // the store: pages, filters, counts in SQL
        builder.Services.AddAuthentication().AddCookie();
        builder.Services.AddAuthorization(o =>
        {
            o.AddPolicy("support", p => p.RequireRole("support", "operators"));
            o.AddPolicy("operators", p => p.RequireRole("operators"));
        });
        builder.Services.AddPatternsDashboard(o =>
        {
            o.Policies.View = "support";                                                // pages, lists, one message
            o.Policies.Edit = "operators";                                              // edit a body
            o.Policies.Resubmit = "operators";                                          // resubmit, bulk retry
            o.Policies.Discard = "operators";                                           // discard, restore, bulk discard
            o.RedactedHeaders.Add("X-Customer-Email");
            o.BulkRatePerSecond = 10;
        });

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapPatternsDashboard("/patterns").RequireAuthorization();                  // signed-in users only
        return app;
        // end-snippet
    }
}
