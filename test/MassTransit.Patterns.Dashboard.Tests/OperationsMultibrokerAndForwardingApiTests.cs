using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MassTransit.Patterns.Dashboard.TestHost;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests;

public record OpsTransfer(int Number);

/// <summary>The multibroker and event forwarding operations pages over HTTP: their JSON matches the components, and the multibroker's actions.</summary>
public sealed class OperationsMultibrokerAndForwardingApiTests
{
    const string Prefix = "/patterns";
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    static readonly Uri Transfers = new("queue:ops-transfers");

    /// <summary>Which broker each transfer was consumed through, by message id.</summary>
    public sealed class TransferLog
    {
        public ConcurrentQueue<(Guid MessageId, string Broker)> Consumed { get; } = new();
    }

    public sealed class TransferConsumer(TransferLog log) : IConsumer<OpsTransfer>
    {
        public Task Consume(ConsumeContext<OpsTransfer> context)
        {
            log.Consumed.Enqueue((context.MessageId!.Value, context.ReceiveContext.InputAddress.Host));
            return Task.CompletedTask;
        }
    }

    /// <summary>An app on the test server with authentication (X-Test-User / X-Test-Roles), the view policy for viewers and operators, operate for operators.</summary>
    static async Task<WebApplication> StartAsync(Action<IServiceCollection> services)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddAuthentication(TestAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, TestAuthenticationHandler>(TestAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization(o =>
        {
            o.AddPolicy("view", p => p.RequireRole("viewer", "operator"));
            o.AddPolicy("operate", p => p.RequireRole("operator"));
        });
        builder.Services.AddPatternsDashboard(o =>
        {
            o.Policies.View = "view";
            o.Policies.Operate = "operate";
        });
        services(builder.Services);
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapPatternsDashboard(Prefix);
        await app.StartAsync();
        return app;
    }

    /// <summary>A client signed in with <paramref name="roles"/>; the token comes from the page (no workflow store: no api/antiforgery).</summary>
    static Task<HttpClient> ClientAsync(WebApplication app, string user, string roles, bool antiforgery = true) =>
        SignedInClient.CreateAsync(app, Prefix, user, roles, antiforgery, tokenFromPage: true);

    static async Task<JsonObject> StateAsync(HttpClient client, string slug)
    {
        var response = await client.GetAsync($"{Prefix}/api/ops/{slug}");
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Json))!;
    }

    static Task<HttpResponseMessage> ActAsync(HttpClient client, string action, object body) =>
        client.PostAsJsonAsync($"{Prefix}/api/ops/multibroker/{action}", body, Json);

    static string? StateOf(JsonObject state, string name) =>
        state["brokers"]!.AsArray().Single(b => (string)b!["name"]! == name)!["state"]!.GetValue<string>();

    static async Task<Dictionary<Guid, string>> SendAsync(IMultibroker multibroker, int from, int count)
    {
        var confirmedBy = new Dictionary<Guid, string>();
        for (var i = from; i < from + count; i++)
        {
            var id = NewId.NextGuid();
            var broker = await multibroker.SendAsync(Transfers, new OpsTransfer(i), pipe: Pipe.Execute<SendContext<OpsTransfer>>(c => c.MessageId = id));
            confirmedBy[id] = broker.Name;
        }
        return confirmedBy;
    }

    [Fact]
    public async Task An_operator_ejects_a_broker_which_then_gets_no_sends_and_readmits_it_which_gets_sends_again_audited()
    {
        await using var app = await StartAsync(services =>
        {
            services.AddSingleton<TransferLog>();
            services.AddMultibroker(x =>
            {
                x.Register(r => r.AddConsumer<TransferConsumer>().Endpoint(e => e.Name = "ops-transfers"));
                x.Broker("b0", new InMemoryMultibrokerTransport()).Broker("b1", new InMemoryMultibrokerTransport()).Broker("b2", new InMemoryMultibrokerTransport());
                x.Options.MinimumBrokersAtStart = 3;
            });
        });
        var multibroker = app.Services.GetRequiredService<IMultibroker>();
        var log = app.Services.GetRequiredService<TransferLog>();
        var op = await ClientAsync(app, "olga", "operator");

        var state = await StateAsync(op, "multibroker");
        Assert.Equal(["b0", "b1", "b2"], state["brokers"]!.AsArray().Select(b => (string)b!["name"]!));
        Assert.All(multibroker.Brokers, b => Assert.Equal(b.State.ToString(), StateOf(state, b.Name)));

        var ejected = await ActAsync(op, "eject", new { broker = "b1" });
        Assert.True(ejected.StatusCode == HttpStatusCode.OK, await ejected.Content.ReadAsStringAsync());
        Assert.Equal(BrokerState.Held, multibroker.Brokers[1].State);
        Assert.Equal("Held", StateOf(await StateAsync(op, "multibroker"), "b1"));
        Assert.Equal(HttpStatusCode.Conflict, (await ActAsync(op, "eject", new { broker = "b1" })).StatusCode);

        var duringHold = await SendAsync(multibroker, 0, 20);
        Assert.DoesNotContain("b1", duringHold.Values);

        var readmitted = await ActAsync(op, "readmit", new { broker = "b1" });
        Assert.True(readmitted.StatusCode == HttpStatusCode.OK, await readmitted.Content.ReadAsStringAsync());
        Assert.Equal(BrokerState.Healthy, multibroker.Brokers[1].State);
        Assert.Equal(HttpStatusCode.Conflict, (await ActAsync(op, "readmit", new { broker = "b1" })).StatusCode);
        var afterReadmit = await SendAsync(multibroker, 20, 30);
        Assert.Equal(10, afterReadmit.Values.Count(b => b == "b1"));

        // Every transfer consumed once, under its id, through the broker that confirmed it.
        var all = duringHold.Concat(afterReadmit).ToDictionary();
        await Eventually.True(() => log.Consumed.Count >= all.Count, TimeSpan.FromSeconds(10), "every transfer consumed");
        Assert.Equal(all.Count, log.Consumed.Count);
        Assert.Equal(all.OrderBy(e => e.Key), log.Consumed.ToDictionary(c => c.MessageId, c => c.Broker).OrderBy(e => e.Key));

        var final = await StateAsync(op, "multibroker");
        foreach (var broker in multibroker.Brokers)
        {
            var row = final["brokers"]!.AsArray().Single(b => (string)b!["name"]! == broker.Name)!;
            Assert.Equal(broker.Sent, (long)row["sent"]!);
            Assert.Equal(broker.Ejections, (long)row["ejections"]!);
            Assert.Equal(broker.Rejoins, (long)row["rejoins"]!);
        }
        Assert.Equal(50, (long)final["sent"]!);

        var audit = (await op.GetFromJsonAsync<JsonArray>($"{Prefix}/api/ops/audit", Json))!;
        Assert.Equal(["readmit:409", "readmit:200", "eject:409", "eject:200"],
            audit.Select(e => $"{(string)e!["action"]!}:{(int)e["status"]!}"));
        Assert.All(audit, e => Assert.Equal("olga", (string)e!["actor"]!));
        Assert.All(audit, e => Assert.Equal("b1", (string)e!["target"]!));
    }

    [Fact]
    public async Task A_read_only_user_gets_403_a_missing_antiforgery_token_400_and_an_unknown_broker_404()
    {
        await using var app = await StartAsync(services => services.AddMultibroker(x =>
        {
            x.Broker("b0", new InMemoryMultibrokerTransport()).Broker("b1", new InMemoryMultibrokerTransport());
            x.Options.MinimumBrokersAtStart = 2;
        }));
        var multibroker = app.Services.GetRequiredService<IMultibroker>();
        var viewer = await ClientAsync(app, "vera", "viewer");
        var forger = await ClientAsync(app, "olga", "operator", antiforgery: false);
        var op = await ClientAsync(app, "olga", "operator");

        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync($"{Prefix}/api/ops/multibroker")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await ActAsync(viewer, "eject", new { broker = "b1" })).StatusCode);
        var forged = await ActAsync(forger, "eject", new { broker = "b1" });
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("antiforgery", await forged.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.NotFound, (await ActAsync(op, "eject", new { broker = "nope" })).StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await ActAsync(op, "eject", new { })).StatusCode);
        Assert.All(multibroker.Brokers, b => Assert.Equal(BrokerState.Healthy, b.State));
        // The page shows the eject buttons to operators only.
        Assert.DoesNotContain("data-ops-action", await viewer.GetStringAsync($"{Prefix}/ops/multibroker/live"));
        Assert.Contains("data-test=\"multibroker-eject\"", await op.GetStringAsync($"{Prefix}/ops/multibroker/live"));
    }

    public sealed class OpsForwardingDb(DbContextOptions<OpsForwardingDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddEventForwardingEntities();
    }

    [Fact]
    public async Task The_event_forwarding_page_shows_the_outbox_backlog_and_oldest_row_its_reader_reads()
    {
        var file = Path.Combine(Path.GetTempPath(), $"mtp-ops-fwd-{Guid.NewGuid():N}.db");
        try
        {
            await using var app = await StartAsync(services =>
            {
                services.AddDbContext<OpsForwardingDb>(o => o.UseSqlite($"Data Source={file};Pooling=False"));
                services.AddMassTransit(x =>
                {
                    // No delivery here: the rows stay, and the page must show them as they are.
                    x.AddPatternsEntityFrameworkOutbox<OpsForwardingDb>(o => o.DeliveryService = false);
                    x.UsingInMemory();
                });
            });
            await using (var scope = app.Services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<OpsForwardingDb>();
                await db.Database.EnsureCreatedAsync();
                var t0 = DateTime.UtcNow.AddMinutes(-3);
                for (var i = 0; i < 3; i++)
                    db.Add(new OutboxEntry
                    {
                        OutboxId = Guid.NewGuid(),
                        MessageId = Guid.NewGuid(),
                        SentTime = t0.AddSeconds(i),
                        DestinationAddress = new Uri("queue:x"),
                        ContentType = "application/json",
                        MessageType = "urn:message:X",
                        Body = "{}"
                    });
                await db.SaveChangesAsync();
            }
            var viewer = await ClientAsync(app, "vera", "viewer");
            var reader = Assert.Single(app.Services.GetServices<IOutboxBacklog>());
            var before = await reader.ReadAsync();

            var state = await StateAsync(viewer, "event-forwarding");

            var outbox = Assert.Single(state["outboxes"]!.AsArray())!;
            Assert.Equal(nameof(OpsForwardingDb), (string)outbox["name"]!);
            Assert.Equal(3, (long)outbox["pending"]!);
            Assert.Equal(before.OldestCreatedAt, outbox["oldestCreatedAt"]!.GetValue<DateTimeOffset>());
            Assert.InRange((double)outbox["oldestAgeSeconds"]!, before.OldestAge.TotalSeconds, before.OldestAge.TotalSeconds + 60);
            Assert.Equal(0, (long)outbox["delivered"]!);
            Assert.Equal(0, (long)state["inboxDuplicatesSuppressed"]!);
            var live = await viewer.GetStringAsync($"{Prefix}/ops/event-forwarding/live");
            Assert.Contains("data-test=\"event-forwarding-backlog\" data-value=\"3\"", live);
            Assert.DoesNotContain("data-ops-action", live);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
