using System.Net;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Scenarios;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Dashboard;

/// <summary>
/// <c>--dashboard</c>: the workflow scenario kept running (invoices with bad ones among them, without end) and the
/// repair console served on http://127.0.0.1:5080/patterns, on the chosen transport with the repair saga on SQLite.
/// Ctrl+C stops it.
/// </summary>
public static class DashboardShowcase
{
    public const int Port = 5080;
    public const string Prefix = "/patterns";
    public const string Queue = "showcase-invoices";
    public const string RepairQueue = "showcase-invoices-repair";

    public static async Task<int> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(DashboardShowcase).Assembly.GetName().Name,
            EnvironmentName = Environments.Production
        });
        // Loopback only: the console changes messages, and the showcase has no sign-in.
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, Port));
        builder.Logging.ClearProviders()
            .AddSimpleConsole(o => o.SingleLine = true)
            .SetMinimumLevel(LogLevel.Warning)
            .AddFilter("MassTransit", LogLevel.Error)
            // A body that is not JSON is logged by the receive transport as a fault on its way to the repair saga,
            // where the console shows it: one line per malformed invoice would only repeat that.
            .AddFilter("MassTransit.ReceiveTransport", LogLevel.Critical);

        var services = builder.Services;
        services.AddMetrics();
        services.AddSingleton(new WorkflowScenario.Books());
        services.AddSingleton(TimeProvider.System);
        services.AddDbContext<WorkflowScenario.WorkflowShowcaseDb>(o =>
            o.UseSqlite(context.SqliteConnectionString("dashboard") + ";Default Timeout=60"));
        services.AddMassTransit(x =>
        {
            x.AddWorkflowEventProcessor(o => o.QueueName = RepairQueue)
                .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowScenario.WorkflowShowcaseDb>());
            x.AddMessageRepairer<Messages.BookInvoice, WorkflowScenario.CurrencyRepairer>();
            x.AddConsumer<DashboardInvoiceConsumer>().Endpoint(e =>
            {
                e.Name = Queue;
                e.ConcurrentMessageLimit = 4;
            });
            x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
            {
                if (name == Queue)
                    cfg.UseWorkflowEvent(ctx, o => o.RepairAddress = new Uri($"exchange:{RepairQueue}"));
            });
            context.UseTransport(x);
        });
        services.AddHostedService<InvoiceProducer>();
        // The repair console: the showcase has no sign-in (it listens on 127.0.0.1 only), so changes are recorded as this operator.
        services.AddPatternsDashboard(o => o.ActorWhenAnonymous = "showcase-operator");
        services.AddPatternsEntityFrameworkWorkflowStore<WorkflowScenario.WorkflowShowcaseDb>();

        await using var app = builder.Build();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowScenario.WorkflowShowcaseDb>();
            await db.Database.EnsureCreatedAsync(cancellationToken);
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }

        app.MapGet("/", () => Results.Redirect(Prefix));
        app.MapPatternsDashboard(Prefix);

        await app.StartAsync(cancellationToken);
        Console.WriteLine($"Repair console: http://127.0.0.1:{Port}{Prefix} (invoices keep failing into it; Ctrl+C stops)");
        try
        {
            await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, app.Lifetime.ApplicationStopping).Token);
        }
        catch (OperationCanceledException)
        {
        }

        await app.StopAsync(CancellationToken.None);
        Console.WriteLine("Stopped.");
        return 0;
    }
}
