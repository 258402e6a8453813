using System.Text.Json.Nodes;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow.Messages;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow;

/// <summary>
/// A repair console's round trip through our EF Core saga repository: the version the store shows is the one the processor
/// compares an edit with, so a fresh edit is accepted, a stale one refused with nothing changed; a discarded message is
/// restored. SQLite and PostgreSQL; every parcel sent is accounted for (shipped once, or still in the store).
/// </summary>
public sealed class WorkflowStoreCommandTests
{
    sealed class Rig : IAsyncDisposable
    {
        public required ThrowawayDatabase<WorkflowDb> Database { get; init; }
        public required ServiceProvider Provider { get; init; }
        public ITestHarness Harness => Provider.GetRequiredService<ITestHarness>();
        public IWorkflowMessageStore MessageStore => Provider.GetRequiredService<IWorkflowMessageStore>();
        public Shipped Shipped => Provider.GetRequiredService<Shipped>();
        public WorkflowEventClient Client { get; private set; } = null!;

        public static async Task<Rig> StartAsync(Store store)
        {
            var database = await ThrowawayDatabase<WorkflowDb>.CreateAsync(store == Store.PostgreSql, "wf_console", o => new WorkflowDb(o));
            var services = new ServiceCollection().AddSingleton<Shipped>().AddDbContext<WorkflowDb>(database.Configure)
                .AddPatternsEntityFrameworkWorkflowStore<WorkflowDb>();
            services.AddMassTransitTestHarness(x =>
            {
                x.AddWorkflowEventProcessor().PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowDb>());
                x.AddMessageRepairer<ShipParcel, DefaultCountryRepairer>();
                x.AddConsumer<ShipParcelConsumer>().Endpoint(e => e.Name = "parcels");
                x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                {
                    if (name == "parcels")
                        cfg.UseWorkflowEvent(ctx);
                });
            });
            services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));
            var rig = new Rig { Database = database, Provider = services.BuildServiceProvider(true) };
            rig.Client = new WorkflowEventClient(rig.Harness.Bus, timeout: TimeSpan.FromSeconds(30));
            await rig.Harness.Start();
            return rig;
        }

        public async Task<Guid> SendAsync(ShipParcel parcel)
        {
            var id = NewId.NextGuid();
            var endpoint = await Harness.Bus.GetSendEndpoint(new Uri("queue:parcels"));
            await endpoint.Send(parcel, c => c.MessageId = id);
            return id;
        }

        public async Task<WorkflowMessageDetails> WaitForAsync(Guid id, string state)
        {
            WorkflowMessageDetails? details = null;
            await Eventually.True(async () => (details = await MessageStore.FindAsync(id))?.Summary?.State == state, TimeSpan.FromSeconds(30),
                $"the message reaches {state} (was {details?.Summary?.State ?? "none"})", TimeSpan.FromMilliseconds(50));
            return details!;
        }

        public async ValueTask DisposeAsync()
        {
            await Harness.Stop();
            await Provider.DisposeAsync();
            await Database.DisposeAsync();
        }
    }

    static string WithWeight(WorkflowMessageDetails details, int weight)
    {
        var body = JsonNode.Parse(details.Body!)!;
        body["message"]!["weight"] = weight;
        return body.ToJsonString();
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task The_version_the_store_shows_is_the_one_an_edit_is_checked_against_a_stale_edit_is_refused_and_only_the_fresh_one_is_shipped(Store store)
    {
        await using var rig = await Rig.StartAsync(store);
        // The country is set, so the repairer cannot help: a person must act.
        var id = await rig.SendAsync(new ShipParcel(Guid.NewGuid(), 0, "NL"));
        var alice = await rig.WaitForAsync(id, "AwaitingPerson");
        var bob = await rig.MessageStore.FindAsync(id);
        Assert.Equal(alice.Version, (await rig.Client.InspectAsync(id)).Version);

        var fresh = await rig.Client.EditAsync(id, WithWeight(alice, 2), "alice", expectedVersion: alice.Version);
        var stale = await rig.Client.EditAsync(id, WithWeight(bob!, 9), "bob", expectedVersion: bob!.Version);

        Assert.True(fresh.Accepted, fresh.Reason);
        Assert.Equal(WorkflowCommandRefusal.Stale, stale.Refusal);
        var now = (await rig.MessageStore.FindAsync(id))!;
        Assert.Contains($"edited on version {bob.Version}, the message is now at version {alice.Version + 1}: reload it", stale.Reason);
        Assert.Equal(2, (int)JsonNode.Parse(now.Body!)!["message"]!["weight"]!);
        Assert.Equal(alice.Version + 2, now.Version); // the edit, then the refusal's audit entry
        Assert.Contains(now.Audit, a => a is { Action: "refused", Actor: "person:bob" });

        Assert.True((await rig.Client.ResubmitAsync(id, "alice")).Accepted);
        await rig.WaitForAsync(id, "Completed");
        await rig.Harness.InactivityTask;
        Assert.Equal(1, rig.Shipped.ById[id]);
        Assert.Single(rig.Shipped.ById);
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_discarded_message_is_restored_in_the_database_and_the_counts_per_state_follow(Store store)
    {
        await using var rig = await Rig.StartAsync(store);
        var id = await rig.SendAsync(new ShipParcel(Guid.NewGuid(), 0, "NL"));
        await rig.WaitForAsync(id, "AwaitingPerson");
        Assert.True((await rig.Client.DiscardAsync(id, "carol", "duplicate")).Accepted);
        Assert.Equal(1, (await rig.MessageStore.CountByStateAsync())["Discarded"]);

        var restored = await rig.Client.RestoreAsync(id, "dave", "not a duplicate");

        Assert.True(restored.Accepted, restored.Reason);
        var details = (await rig.MessageStore.FindAsync(id))!;
        Assert.Equal("AwaitingPerson", details.Summary!.State);
        Assert.Null(details.ResolvedAt);
        Assert.Contains(details.Audit, a => a is { Action: "restored", Actor: "person:dave", Detail: "not a duplicate" });
        Assert.Equal(new Dictionary<string, long> { ["AwaitingPerson"] = 1 }, await rig.MessageStore.CountByStateAsync());
        var again = await rig.Client.RestoreAsync(id, "dave");
        Assert.Equal(WorkflowCommandRefusal.WrongState, again.Refusal);
        await rig.Harness.InactivityTask;
        Assert.Empty(rig.Shipped.ById);
    }
}
