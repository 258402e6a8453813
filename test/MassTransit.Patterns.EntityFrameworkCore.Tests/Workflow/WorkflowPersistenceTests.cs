using System.Collections.Concurrent;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow.Messages
{
    public record ShipParcel(Guid ParcelId, int Weight, string? Country);
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow
{
    using Messages;

    public sealed class WorkflowDb(DbContextOptions<WorkflowDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities();
    }

    public sealed class BadParcelException(string message) : Exception(message);

    public sealed class Shipped
    {
        public readonly ConcurrentDictionary<Guid, int> ById = new();
    }

    public sealed class ShipParcelConsumer(Shipped shipped) : IConsumer<ShipParcel>
    {
        public Task Consume(ConsumeContext<ShipParcel> context)
        {
            if (context.Message.Country is null)
                throw new BadParcelException("no country");
            if (context.Message.Weight < 1)
                throw new BadParcelException($"weight {context.Message.Weight}");
            shipped.ById.AddOrUpdate(context.GetWorkflowOriginalMessageId()!.Value, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }
    }

    public sealed class DefaultCountryRepairer : IMessageRepairer<ShipParcel>
    {
        public Task<RepairResult<ShipParcel>> Repair(MessageRepairContext<ShipParcel> context, CancellationToken cancellationToken) =>
            Task.FromResult(context.Message.Country is null
                ? RepairResult<ShipParcel>.Repaired(context.Message with { Country = "NL" }, "country defaulted")
                : RepairResult<ShipParcel>.CannotRepair());
    }

    /// <summary>The workflow processor's saga and audit on SQLite and PostgreSQL through our EF Core repository.</summary>
    public sealed class WorkflowPersistenceTests
    {
        sealed class Rig : IAsyncDisposable
        {
            readonly ServiceProvider _provider;
            readonly Func<Task> _cleanup;

            Rig(ServiceProvider provider, Func<Task> cleanup)
            {
                _provider = provider;
                _cleanup = cleanup;
                Harness = provider.GetRequiredService<ITestHarness>();
                Shipped = provider.GetRequiredService<Shipped>();
                Client = new WorkflowEventClient(Harness.Bus, timeout: TimeSpan.FromSeconds(30));
            }

            public ITestHarness Harness { get; }
            public Shipped Shipped { get; }
            public WorkflowEventClient Client { get; }

            public static async Task<Rig> StartAsync(Store store)
            {
                var services = new ServiceCollection().AddSingleton<Shipped>();
                Func<Task> cleanup = () => Task.CompletedTask;
                if (store == Store.Sqlite)
                {
                    var file = Path.Combine(Path.GetTempPath(), $"mtp-workflow-{Guid.NewGuid():N}.db");
                    services.AddDbContext<WorkflowDb>(o => o.UseSqlite($"Data Source={file};Pooling=False;Default Timeout=60"));
                    cleanup = () =>
                    {
                        foreach (var f in new[] { file, file + "-wal", file + "-shm" })
                            File.Delete(f);
                        return Task.CompletedTask;
                    };
                }
                else
                {
                    var connection = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
                    { Database = $"workflow_{Guid.NewGuid():N}"[..24], MaxPoolSize = 20 }.ConnectionString;
                    services.AddDbContext<WorkflowDb>(o => o.UseNpgsql(connection));
                }

                services.AddMassTransitTestHarness(x =>
                {
                    x.AddWorkflowEventProcessor().PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowDb>());
                    x.AddMessageRepairer<ShipParcel, DefaultCountryRepairer>();
                    x.AddWorkflowEventHoldByKey();
                    x.AddConsumer<ShipParcelConsumer>().Endpoint(e => e.Name = "parcels");
                    x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                    {
                        if (name == "parcels")
                            cfg.UseWorkflowEvent(ctx, o => o.HoldByKey<ShipParcel>(m => m.Country));
                    });
                });
                services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));
                var provider = services.BuildServiceProvider(true);
                await using (var scope = provider.CreateAsyncScope())
                {
                    var db = scope.ServiceProvider.GetRequiredService<WorkflowDb>();
                    await db.Database.EnsureDeletedAsync();
                    await db.Database.EnsureCreatedAsync();
                }
                var previous = cleanup;
                cleanup = async () =>
                {
                    await using var s = provider.CreateAsyncScope();
                    await s.ServiceProvider.GetRequiredService<WorkflowDb>().Database.EnsureDeletedAsync();
                    await previous();
                };

                var rig = new Rig(provider, cleanup);
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

            /// <summary>The row as stored, read back through a fresh DbContext.</summary>
            public async Task<WorkflowEventState?> RowAsync(Guid id)
            {
                await using var scope = _provider.CreateAsyncScope();
                return await scope.ServiceProvider.GetRequiredService<WorkflowDb>().Set<WorkflowEventState>().AsNoTracking()
                    .SingleOrDefaultAsync(x => x.CorrelationId == id);
            }

            public async Task<WorkflowEventState> WaitForAsync(Guid id, string state)
            {
                WorkflowEventState? row = null;
                await Eventually.True(async () => (row = await RowAsync(id))?.CurrentState == state, TimeSpan.FromSeconds(30),
                    $"the row reaches {state} (was {row?.CurrentState ?? "none"})", TimeSpan.FromMilliseconds(50));
                return row!;
            }

            public async ValueTask DisposeAsync()
            {
                await Harness.Stop();
                await _cleanup();
                await _provider.DisposeAsync();
            }
        }

        [Theory]
        [InlineData(Store.Sqlite)]
        [InlineData(Store.PostgreSql)]
        public async Task An_automatic_repair_is_stored_with_its_audit_and_the_row_is_kept_completed(Store store)
        {
            await using var rig = await Rig.StartAsync(store);

            var id = await rig.SendAsync(new ShipParcel(Guid.NewGuid(), 3, null));

            var row = await rig.WaitForAsync(id, "Completed");
            Assert.Equal(1, rig.Shipped.ById[id]);
            Assert.Equal(1, row.RepairAttempts);
            Assert.Equal(1, row.Failures);
            Assert.True(row.Version > 1, $"the version token moved with each step (was {row.Version})");
            Assert.Contains("\"country\":\"NL\"", System.Text.Encoding.UTF8.GetString(row.Body).Replace(" ", "", StringComparison.Ordinal));
            Assert.Equal(["failed", "repaired", "resubmitted", "completed"], row.ReadAudit().Select(a => a.Action));
            Assert.Contains("message.country: (none) -> \"NL\"", row.ReadAudit()[1].Detail);
            Assert.NotNull(row.ResolvedAt);
        }

        [Theory]
        [InlineData(Store.Sqlite)]
        [InlineData(Store.PostgreSql)]
        public async Task A_waiting_message_is_listed_from_the_database_and_a_persons_edit_and_resubmit_are_stored_with_who_and_what(Store store)
        {
            await using var rig = await Rig.StartAsync(store);

            var id = await rig.SendAsync(new ShipParcel(Guid.NewGuid(), 0, "BE"));
            var waiting = await rig.WaitForAsync(id, "AwaitingPerson");
            Assert.Contains("weight 0", waiting.ExceptionMessage);
            Assert.Contains("Content-Type", waiting.ReadHeaders().Keys, StringComparer.OrdinalIgnoreCase);

            var listed = await rig.Client.ListAsync();
            Assert.Contains(listed, m => m.CorrelationId == id && m.State == "AwaitingPerson");

            // Hold by key: a later parcel to BE waits behind it, stored in its row, and the held key can be reloaded.
            var later = await rig.SendAsync(new ShipParcel(Guid.NewGuid(), 4, "BE"));
            await Eventually.True(async () => (await rig.RowAsync(id))?.HeldCount == 1, TimeSpan.FromSeconds(30), "the later parcel is held in the row");
            Assert.False(rig.Shipped.ById.ContainsKey(later));
            var holds = new WorkflowHoldRegistry();
            Assert.Equal(1, await WorkflowHoldLoader.LoadAsync(holds, rig.Harness.Bus, new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName), TimeSpan.FromSeconds(30)));
            Assert.Equal(id, holds.LeaderOf("parcels", "BE"));

            var details = await rig.Client.InspectAsync(id);
            var body = System.Text.Json.Nodes.JsonNode.Parse(details.Body!)!;
            body["message"]!["weight"] = 2;
            Assert.True((await rig.Client.EditAsync(id, body.ToJsonString(), "erin", "weighed again")).Accepted);
            Assert.True((await rig.Client.ResubmitAsync(id, "erin")).Accepted);

            var row = await rig.WaitForAsync(id, "Completed");
            Assert.Equal(1, rig.Shipped.ById[id]);
            await Eventually.True(() => rig.Shipped.ById.ContainsKey(later), TimeSpan.FromSeconds(30), "the held parcel is released after it");
            Assert.Equal(1, rig.Shipped.ById[later]);
            row = (await rig.RowAsync(id))!;
            Assert.Equal(0, row.HeldCount);
            var audit = row.ReadAudit();
            var edit = Assert.Single(audit, a => a.Action == "edited");
            Assert.Equal("person:erin", edit.Actor);
            Assert.Contains("message.weight: 0 -> 2", edit.Detail);
            Assert.Contains(audit, a => a is { Action: "resubmitted", Actor: "person:erin" });
            Assert.Empty(await rig.Client.ListAsync());
        }
    }
}
