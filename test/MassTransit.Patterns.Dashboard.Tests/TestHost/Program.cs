using MassTransit;
using MassTransit.Patterns.Dashboard.TestHost;
using Microsoft.EntityFrameworkCore;

// Settings (configuration, e.g. from WebApplicationFactory's UseSetting):
//   Dashboard:Auth = none (default: no authentication, no policies) | test (TestAuthenticationHandler, a policy per action)
//   Dashboard:Policies = off (with Auth=test: authentication without the per-action policies)
//   Dashboard:Store = memory (default: in-memory saga repository, store over it) | sqlite (our EF Core repository and
//     the EF Core workflow store on a SQLite file in the temp folder, deleted at stop)
//   Dashboard:Seed = N (at start, send N orders without a currency, for a person to look at)
//   Dashboard:ActorWhenAnonymous, Dashboard:MaxBodyBytes, Dashboard:BulkRatePerSecond, Dashboard:MaxBulkSize
var builder = WebApplication.CreateBuilder(args);
var settings = builder.Configuration.GetSection("Dashboard");
var auth = settings["Auth"] ?? "none";
var sqlite = settings["Store"] == "sqlite" ? Path.Combine(Path.GetTempPath(), $"patterns-dashboard-{Guid.NewGuid():N}.db") : null;

builder.Services.AddSingleton<OrderLedger>();
builder.Services.AddSingleton<DeadEnds>();
builder.Services.AddMassTransitTestHarness(x =>
{
    var processor = x.AddWorkflowEventProcessor(o => o.AddMessageType<PlaceOrder>());
    if (sqlite is null)
        processor.InMemoryRepository();
    else
        processor.PatternsEntityFrameworkRepository(r => r.ExistingDbContext<ConsoleDb>());
    x.AddConsumer<OrderConsumer>().Endpoint(e => e.Name = "orders");
    x.AddConfigureEndpointsCallback((context, name, cfg) =>
    {
        if (name == "orders")
            cfg.UseWorkflowEvent(context, o =>
            {
                o.RetryInterval = TimeSpan.FromMilliseconds(10);
                o.Delegate<InvalidOrderException>();
            });
    });
    x.UsingInMemory((context, cfg) =>
    {
        var deadEnds = context.GetRequiredService<DeadEnds>();
        cfg.ConnectReceiveObserver(deadEnds);
        foreach (var queue in DeadEnds.Queues)
            cfg.ReceiveEndpoint(queue, _ => { }); // binds a queue to the dead end, so a message moved there is seen
        cfg.ConfigureEndpoints(context);
    });
});
if (sqlite is null)
    builder.Services.AddWorkflowMessageStoreOverSagaRepository();
else
{
    builder.Services.AddDbContext<ConsoleDb>(o => o.UseSqlite($"Data Source={sqlite}"));
    builder.Services.AddPatternsEntityFrameworkWorkflowStore<ConsoleDb>();
}

if (auth == "test")
{
    builder.Services.AddAuthentication(TestAuthenticationHandler.SchemeName)
        .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, TestAuthenticationHandler>(TestAuthenticationHandler.SchemeName, _ => { });
    builder.Services.AddAuthorization(o =>
    {
        o.AddPolicy("view", p => p.RequireRole("viewer", "editor", "resubmitter", "discarder"));
        o.AddPolicy("edit", p => p.RequireRole("editor"));
        o.AddPolicy("resubmit", p => p.RequireRole("resubmitter"));
        o.AddPolicy("discard", p => p.RequireRole("discarder"));
    });
}

var policies = auth == "test" && settings["Policies"] != "off";
builder.Services.AddPatternsDashboard(o =>
{
    if (policies)
    {
        o.Policies.View = "view";
        o.Policies.Edit = "edit";
        o.Policies.Resubmit = "resubmit";
        o.Policies.Discard = "discard";
    }
    o.ActorWhenAnonymous = settings["ActorWhenAnonymous"];
    if (settings.GetValue<int?>("MaxBodyBytes") is { } max)
        o.MaxBodyBytes = max;
    if (settings.GetValue<double?>("BulkRatePerSecond") is { } rate)
        o.BulkRatePerSecond = rate;
    if (settings.GetValue<int?>("MaxBulkSize") is { } bulk)
        o.MaxBulkSize = bulk;
    o.LiveRefreshInterval = TimeSpan.FromSeconds(1);
});

var app = builder.Build();
if (sqlite is not null)
{
    using (var scope = app.Services.CreateScope())
        scope.ServiceProvider.GetRequiredService<ConsoleDb>().Database.EnsureCreated();
    app.Lifetime.ApplicationStopped.Register(() =>
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(sqlite);
    });
}
if (auth == "test")
{
    app.UseAuthentication();
    app.UseAuthorization();
}
app.MapPatternsDashboard("/patterns");
if (settings.GetValue<int?>("Seed") is > 0 and var seed)
    app.Lifetime.ApplicationStarted.Register(() => _ = Task.Run(async () =>
    {
        var endpoint = await app.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri("queue:orders"));
        for (var i = 0; i < seed; i++)
            await endpoint.Send(i % 3 == 1 ? new PlaceOrder(Guid.NewGuid(), 0, "<script>alert('x')</script>") : new PlaceOrder(Guid.NewGuid(), i + 1, null));
    }));
app.Run();

/// <summary>The entry point WebApplicationFactory starts.</summary>
public partial class Program;
