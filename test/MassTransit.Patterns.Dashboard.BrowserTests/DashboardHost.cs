using System.Net;
using MassTransit.Patterns.Dashboard.BrowserTests.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// An app as a user builds it: MassTransit on the in-memory transport with a "payments" endpoint behind the workflow event
/// filter, the workflow processor on the EF Core repository and the EF Core workflow store (SQLite, a file of its own per
/// host), and the repair console mounted at <see cref="Prefix"/>, on Kestrel at 127.0.0.1 on a free port (a real socket,
/// for the browser). Sign-in by the <see cref="TestUsers"/> cookie; edit, resubmit and discard
/// need the operators policy.
/// </summary>
public sealed class DashboardHost : IAsyncDisposable
{
    public const string Prefix = "/patterns";
    public const string Queue = "payments";

    static readonly string[] DeadEndQueues =
        [Queue + "_skipped", Queue + "_error", WorkflowProcessorOptions.DefaultQueueName + "_skipped", WorkflowProcessorOptions.DefaultQueueName + "_error"];

    readonly WebApplication _app;
    readonly DirectoryInfo _folder;

    /// <summary>The app's database: the workflow rows only.</summary>
    public sealed class ConsoleDb(DbContextOptions<ConsoleDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities();
    }

    DashboardHost(WebApplication app, DirectoryInfo folder, Uri baseAddress)
    {
        _app = app;
        _folder = folder;
        BaseAddress = baseAddress;
        Ledger = app.Services.GetRequiredService<Ledger>();
        DeadEnds = app.Services.GetRequiredService<DeadEnds>();
    }

    /// <summary>http://127.0.0.1:PORT</summary>
    public Uri BaseAddress { get; }

    /// <summary>The console's address: http://127.0.0.1:PORT/patterns</summary>
    public string Console => BaseAddress.ToString().TrimEnd('/') + Prefix;

    public Ledger Ledger { get; }

    public DeadEnds DeadEnds { get; }

    public static async Task<DashboardHost> StartAsync()
    {
        var folder = Directory.CreateTempSubdirectory("mtp-dashboard-browser-");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var services = builder.Services;
        CapturedLogs.Use(services);
        services.AddSingleton<Ledger>();
        services.AddSingleton(new DeadEnds(DeadEndQueues));
        services.AddMassTransit(x =>
        {
            // PayInvoice has no repairer: named here, so a person's edited body is checked against it.
            x.AddWorkflowEventProcessor(o => o.AddMessageType<PayInvoice>())
                .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<ConsoleDb>());
            x.AddConsumer<PayInvoiceConsumer>().Endpoint(e => e.Name = Queue);
            x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
            {
                if (name == Queue)
                    cfg.UseWorkflowEvent(ctx, o => o.RetryInterval = TimeSpan.FromMilliseconds(10));
            });
            x.UsingInMemory((ctx, cfg) =>
            {
                foreach (var queue in DeadEndQueues)
                    cfg.ReceiveEndpoint(queue, _ => { }); // binds a queue to the dead-end exchange, so a moved message is seen
                cfg.ConfigureEndpoints(ctx);
            });
        });
        services.AddDbContext<ConsoleDb>(o => o.UseSqlite($"Data Source={Path.Combine(folder.FullName, "console.db")};Pooling=False;Default Timeout=30"));
        services.AddPatternsEntityFrameworkWorkflowStore<ConsoleDb>();
        services.AddAuthentication(TestUsers.SchemeName).AddScheme<AuthenticationSchemeOptions, TestUsers>(TestUsers.SchemeName, null);
        services.AddAuthorization(o => o.AddPolicy(TestUsers.OperatorsPolicy, p => p.RequireRole(TestUsers.OperatorRole)));
        services.AddPatternsDashboard(o =>
        {
            o.Policies.Edit = TestUsers.OperatorsPolicy;
            o.Policies.Resubmit = TestUsers.OperatorsPolicy;
            o.Policies.Discard = TestUsers.OperatorsPolicy;
            o.BulkRatePerSecond = 200;
            o.LiveRefreshInterval = TimeSpan.FromMilliseconds(300);
        });

        var app = builder.Build();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ConsoleDb>();
            await db.Database.EnsureCreatedAsync();
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        }
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapPatternsDashboard(Prefix).RequireAuthorization();
        app.Services.GetRequiredService<IBus>().ConnectReceiveObserver(app.Services.GetRequiredService<DeadEnds>());
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new DashboardHost(app, folder, new Uri(address));
    }

    /// <summary>Sends an invoice to the payments queue; returns its message id.</summary>
    public async Task<Guid> SendAsync(PayInvoice invoice)
    {
        var id = NewId.NextGuid();
        var endpoint = await _app.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"queue:{Queue}"));
        await endpoint.Send(invoice, c => c.MessageId = id);
        return id;
    }

    /// <summary>The workflow's row as the console reads it (null: none for that id).</summary>
    public async Task<WorkflowMessageDetails?> FindAsync(Guid id)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var details = await scope.ServiceProvider.GetRequiredService<IWorkflowMessageStore>().FindAsync(id);
        return details is { Found: true } ? details : null;
    }

    /// <summary>The ids of the workflows in <paramref name="state"/> (at most 1000).</summary>
    public async Task<IReadOnlyCollection<Guid>> IdsInStateAsync(string state)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IWorkflowMessageStore>().IdsAsync(new WorkflowMessageFilter { State = state }, 1000);
    }

    /// <summary>Waits until every id is in <paramref name="state"/>.</summary>
    public Task WaitForStateAsync(IReadOnlyCollection<Guid> ids, string state, string because) =>
        Eventually.True(async () => (await IdsInStateAsync(state)).ToHashSet().IsSupersetOf(ids), TimeSpan.FromSeconds(20), because);

    /// <summary>
    /// Every message sent ends in one place: paid (by original message id, each once), waiting for a person in the
    /// workflow store, discarded there, or a dead end (none expected).
    /// </summary>
    public MessageAccount Account(IEnumerable<Guid> sent, IEnumerable<Guid> paid, IEnumerable<Guid> waiting, IEnumerable<Guid>? discarded = null) =>
        new MessageAccount()
            .Sent(sent)
            .Consumed(Ledger.Paid, Expect.Ids(paid), "paid")
            .Place("workflow store: AwaitingPerson", async _ => PlaceReading.Of(await IdsInStateAsync("AwaitingPerson")), Expect.Ids(waiting))
            .Place("workflow store: Discarded", async _ => PlaceReading.Of(await IdsInStateAsync("Discarded")), Expect.Ids(discarded ?? []))
            .Place("dead ends (_error, _skipped)", () => DeadEnds.Ids, Expect.Empty);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _folder.Delete(recursive: true);
    }
}
