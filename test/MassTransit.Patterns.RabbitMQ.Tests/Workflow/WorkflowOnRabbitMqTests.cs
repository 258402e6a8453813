using System.Collections.Concurrent;
using System.Text;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Workflow.Messages
{
    public record SubmitPayment(int Number, decimal Amount, string? Currency);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Workflow
{
    using Messages;

    public sealed class PaymentRejectedException(string message) : Exception(message);

    public sealed class WorkflowRabbitDb(DbContextOptions<WorkflowRabbitDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities();
    }

    /// <summary>Successful processing, counted by message id (a resubmitted copy keeps the original id).</summary>
    public sealed class PaymentLedger
    {
        public readonly ConcurrentDictionary<Guid, int> ById = new();
        public int LineageMismatches;
    }

    public sealed class PaymentConsumer(PaymentLedger ledger) : IConsumer<SubmitPayment>
    {
        public Task Consume(ConsumeContext<SubmitPayment> context)
        {
            if (context.Message.Currency is null)
                throw new PaymentRejectedException("currency missing");
            if (context.Message.Amount <= 0)
                throw new PaymentRejectedException($"amount {context.Message.Amount}");
            var id = context.MessageId!.Value;
            if (context.GetWorkflowOriginalMessageId() != id)
                Interlocked.Increment(ref ledger.LineageMismatches);
            ledger.ById.AddOrUpdate(id, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }
    }

    /// <summary>Counts deliveries per message id on one queue, and how many of them completed (were acknowledged) or faulted.</summary>
    public sealed class DeliveryCounter(string queue) : IReceiveObserver
    {
        public readonly ConcurrentDictionary<Guid, int> Received = new();
        public int Faulted;

        public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostReceive(ReceiveContext context)
        {
            if (context.InputAddress.AbsolutePath.EndsWith("/" + queue, StringComparison.Ordinal) && context.GetMessageId() is { } id)
                Received.AddOrUpdate(id, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

        public Task ReceiveFault(ReceiveContext context, Exception exception)
        {
            Interlocked.Increment(ref Faulted);
            return Task.CompletedTask;
        }
    }

    public sealed class CurrencyRepairer : IMessageRepairer<SubmitPayment>
    {
        public Task<RepairResult<SubmitPayment>> Repair(MessageRepairContext<SubmitPayment> context, CancellationToken cancellationToken) =>
            Task.FromResult(context.Message.Currency is null
                ? RepairResult<SubmitPayment>.Repaired(context.Message with { Currency = "EUR" }, "defaulted the currency")
                : RepairResult<SubmitPayment>.CannotRepair("the currency is not the problem"));
    }

    sealed class ObserverHandle(ConnectHandle handle) : IDisposable
    {
        public void Dispose() => handle.Disconnect();
    }

    /// <summary>
    /// The workflow event on a real broker, with the repair saga in PostgreSQL through our EF Core
    /// repository: a stream with 5 % bad messages keeps flowing, the repairable ones are repaired and
    /// processed once, the others wait for a person; nothing is lost and nothing is processed twice.
    /// </summary>
    public sealed class WorkflowOnRabbitMqTests
    {
        const int Total = 400;
        const int BadEvery = 20; // 5 %

        sealed class Rig : IAsyncDisposable
        {
            readonly ServiceProvider _provider;
            readonly string _database;

            Rig(ServiceProvider provider, string queue, string repairQueue, string database)
            {
                _provider = provider;
                Queue = queue;
                RepairQueue = repairQueue;
                _database = database;
                Bus = provider.GetRequiredService<IBusControl>();
                Ledger = provider.GetRequiredService<PaymentLedger>();
                Client = new WorkflowEventClient(Bus, new Uri($"exchange:{repairQueue}"), TimeSpan.FromSeconds(30));
            }

            public string Queue { get; }
            public string RepairQueue { get; }
            public IBusControl Bus { get; }
            public PaymentLedger Ledger { get; }
            public WorkflowEventClient Client { get; }

            public static async Task<Rig> StartAsync()
            {
                var queue = Broker.UniqueQueue("wf-pay");
                var repairQueue = Broker.UniqueQueue("wf-repair");
                var connection = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
                { Database = $"wfrabbit_{Guid.NewGuid():N}"[..24], MaxPoolSize = 30 }.ConnectionString;
                var services = new ServiceCollection()
                    .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                    .AddSingleton<PaymentLedger>()
                    .AddDbContext<WorkflowRabbitDb>(o => o.UseNpgsql(connection));
                services.AddMassTransit(x =>
                {
                    x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowRabbitDb>());
                    x.AddMessageRepairer<SubmitPayment, CurrencyRepairer>();
                    x.AddConsumer<PaymentConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 8;
                    });
                    x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                    {
                        if (name == queue)
                            cfg.UseWorkflowEvent(ctx, o => o.RepairAddress = new Uri($"exchange:{repairQueue}"));
                    });
                    x.UsingRabbitMq((ctx, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                        cfg.ConfigureEndpoints(ctx);
                    });
                });
                var provider = services.BuildServiceProvider(true);
                await using (var scope = provider.CreateAsyncScope())
                    await scope.ServiceProvider.GetRequiredService<WorkflowRabbitDb>().Database.EnsureCreatedAsync();
                var rig = new Rig(provider, queue, repairQueue, connection);
                await rig.Bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
                return rig;
            }

            public async Task<WorkflowEventState?> RowAsync(Guid id)
            {
                await using var scope = _provider.CreateAsyncScope();
                return await scope.ServiceProvider.GetRequiredService<WorkflowRabbitDb>().Set<WorkflowEventState>().AsNoTracking()
                    .SingleOrDefaultAsync(x => x.CorrelationId == id);
            }

            public async Task<List<WorkflowEventState>> RowsAsync()
            {
                await using var scope = _provider.CreateAsyncScope();
                return await scope.ServiceProvider.GetRequiredService<WorkflowRabbitDb>().Set<WorkflowEventState>().AsNoTracking().ToListAsync();
            }

            /// <summary>
            /// Every message sent (by id) is processed or waits for a person in the workflow store, and nowhere else: the
            /// payment queue, the repair queue and their siblings (_error, _skipped) are empty.
            /// </summary>
            public Task AssertAccountedAsync(IEnumerable<Guid> sent, IEnumerable<Guid> processed, IEnumerable<Guid> waiting) =>
                new MessageAccount()
                    .Sent(sent)
                    .Place("processed (by message id)", () => Ledger.ById.Keys.ToArray(), Expect.Ids(processed))
                    .Place("waiting for a person (workflow store)", async _ =>
                        PlaceReading.Of((await RowsAsync()).Where(r => r.CurrentState == "AwaitingPerson").Select(r => r.CorrelationId).ToArray()), Expect.Ids(waiting))
                    .Endpoint(Queue, Expect.Empty)
                    .Endpoint(RepairQueue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));

            public static async Task<uint> DepthAsync(string queue)
            {
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                await using var channel = await connection.CreateChannelAsync();
                try
                {
                    return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
                }
                catch (global::RabbitMQ.Client.Exceptions.OperationInterruptedException)
                {
                    return 0; // never declared: nothing went there
                }
            }

            public async ValueTask DisposeAsync()
            {
                await Bus.StopAsync(CancellationToken.None);
                await using (var scope = _provider.CreateAsyncScope())
                    await scope.ServiceProvider.GetRequiredService<WorkflowRabbitDb>().Database.EnsureDeletedAsync();
                await _provider.DisposeAsync();
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                await using var channel = await connection.CreateChannelAsync();
                foreach (var name in new[] { Queue, Queue + "_error", Queue + "_skipped", RepairQueue, RepairQueue + "_error", RepairQueue + "_skipped" })
                {
                    await channel.QueueDeleteAsync(name);
                    await channel.ExchangeDeleteAsync(name);
                }
            }
        }

        [Fact]
        public async Task A_stream_with_five_percent_bad_messages_keeps_flowing_and_every_message_ends_processed_once_or_waiting_for_a_person()
        {
            await using var rig = await Rig.StartAsync();
            var deliveries = new DeliveryCounter(rig.Queue);
            using var _ = new ObserverHandle(rig.Bus.ConnectReceiveObserver(deliveries));
            var endpoint = await rig.Bus.GetSendEndpoint(new Uri($"exchange:{rig.Queue}"));

            var good = new List<Guid>();
            var repairable = new List<Guid>();
            var unrepairable = new List<Guid>();
            for (var n = 0; n < Total; n++)
            {
                var id = NewId.NextGuid();
                SubmitPayment payment;
                if (n % BadEvery != BadEvery - 1)
                {
                    payment = new SubmitPayment(n, 10 + n, "USD");
                    good.Add(id);
                }
                else if (n / BadEvery % 2 == 0)
                {
                    payment = new SubmitPayment(n, 10 + n, null);
                    repairable.Add(id);
                }
                else
                {
                    payment = new SubmitPayment(n, -1, "USD");
                    unrepairable.Add(id);
                }
                await endpoint.Send(payment, c => c.MessageId = id);
            }

            await Eventually.True(() => good.Concat(repairable).All(rig.Ledger.ById.ContainsKey), TimeSpan.FromSeconds(45),
                "every good and every repairable message is processed", TimeSpan.FromMilliseconds(100));
            await Eventually.True(async () => (await rig.RowsAsync()).Count(r => r.CurrentState is "Completed" or "AwaitingPerson") == repairable.Count + unrepairable.Count,
                TimeSpan.FromSeconds(30), "every bad message ends in one state", TimeSpan.FromMilliseconds(100));

            var rows = (await rig.RowsAsync()).ToDictionary(r => r.CorrelationId);
            Assert.All(repairable, id => Assert.Equal("Completed", rows[id].CurrentState));
            Assert.All(repairable, id => Assert.Equal(1, rows[id].RepairAttempts));
            Assert.All(unrepairable, id => Assert.Equal("AwaitingPerson", rows[id].CurrentState));
            Assert.All(unrepairable, id => Assert.False(rig.Ledger.ById.ContainsKey(id), "a message waiting for a person was not processed"));
            Assert.Equal(repairable.Count + unrepairable.Count, rows.Count);

            // A person fixes one of the waiting messages.
            var chosen = unrepairable[0];
            var details = await rig.Client.InspectAsync(chosen);
            var body = System.Text.Json.Nodes.JsonNode.Parse(details.Body!)!;
            body["message"]!["amount"] = 42;
            Assert.True((await rig.Client.EditAsync(chosen, body.ToJsonString(), "frank", "amount confirmed by phone")).Accepted);
            Assert.True((await rig.Client.ResubmitAsync(chosen, "frank")).Accepted);
            Assert.False((await rig.Client.ResubmitAsync(chosen, "frank")).Accepted, "a duplicate resubmit is refused");
            await Eventually.True(async () => (await rig.RowAsync(chosen))?.CurrentState == "Completed", TimeSpan.FromSeconds(30),
                "the edited message is processed", TimeSpan.FromMilliseconds(100));

            // Nothing lost, nothing twice: every message id is processed exactly once or waits for a person.
            var waiting = (await rig.Client.ListAsync()).Select(m => m.CorrelationId).ToHashSet();
            Assert.Equal(unrepairable.Skip(1).ToHashSet(), waiting);
            var processed = good.Concat(repairable).Append(chosen).ToList();
            Assert.All(processed, id => Assert.Equal(1, rig.Ledger.ById.GetValueOrDefault(id)));
            Assert.Equal(processed.Count, rig.Ledger.ById.Count);
            Assert.Equal(Total, processed.Count + waiting.Count);
            Assert.Equal(0, rig.Ledger.LineageMismatches);
            Assert.Equal(0u, await Rig.DepthAsync(rig.Queue + "_error"));

            // The endpoint moved on: a bad message took one delivery (no retry loop, no redelivery), acknowledged
            // after its hand-off; a repaired one came back once more, as did the one the person fixed.
            Assert.Equal(0, deliveries.Faulted);
            Assert.All(good, id => Assert.Equal(1, deliveries.Received.GetValueOrDefault(id)));
            Assert.All(repairable, id => Assert.Equal(2, deliveries.Received.GetValueOrDefault(id)));
            Assert.All(unrepairable.Skip(1), id => Assert.Equal(1, deliveries.Received.GetValueOrDefault(id)));
            Assert.Equal(2, deliveries.Received.GetValueOrDefault(chosen));
            var audit = (await rig.RowAsync(chosen))!.ReadAudit();
            Assert.Contains(audit, a => a is { Action: "edited", Actor: "person:frank" } && a.Detail!.Contains("message.amount: \"-1\" -> 42"));
            await rig.AssertAccountedAsync(good.Concat(repairable).Concat(unrepairable), processed, waiting);
        }

        [Fact]
        public async Task A_body_that_is_not_valid_JSON_is_captured_from_the_broker_with_its_raw_bytes_and_a_person_fixes_it()
        {
            await using var rig = await Rig.StartAsync();
            var id = NewId.NextGuid();
            const string broken = "{\"messageType\":[\"urn:message:MassTransit.Patterns.RabbitMQ.Tests.Workflow.Messages:SubmitPayment\"],\"message\":{\"amount\":";

            await using (var connection = await Broker.Factory().CreateConnectionAsync())
            await using (var channel = await connection.CreateChannelAsync())
            {
                var properties = new BasicProperties { ContentType = "application/vnd.masstransit+json", MessageId = id.ToString(), Persistent = true };
                await channel.BasicPublishAsync(rig.Queue, "", false, properties, Encoding.UTF8.GetBytes(broken));
            }

            WorkflowEventState? row = null;
            await Eventually.True(async () => (row = (await rig.RowsAsync()).SingleOrDefault())?.CurrentState == "AwaitingPerson", TimeSpan.FromSeconds(30),
                "the malformed body is captured and waits for a person", TimeSpan.FromMilliseconds(100));
            Assert.True(row!.Malformed);
            Assert.Equal(broken, Encoding.UTF8.GetString(row.Body));
            Assert.Equal(0u, await Rig.DepthAsync(rig.Queue + "_error"));

            var fixedBody = $$$"""{"messageId":"{{{row.CorrelationId}}}","messageType":["urn:message:MassTransit.Patterns.RabbitMQ.Tests.Workflow.Messages:SubmitPayment"],"message":{"number":1,"amount":5,"currency":"EUR"}}""";
            Assert.True((await rig.Client.EditAsync(row.CorrelationId, fixedBody, "grace")).Accepted);
            Assert.True((await rig.Client.ResubmitAsync(row.CorrelationId, "grace")).Accepted);

            await Eventually.True(async () => (await rig.RowAsync(row.CorrelationId))?.CurrentState == "Completed", TimeSpan.FromSeconds(30),
                "the fixed body is processed", TimeSpan.FromMilliseconds(100));
            Assert.Equal(1, rig.Ledger.ById.GetValueOrDefault(row.CorrelationId));
            Assert.Single(rig.Ledger.ById);
            await rig.AssertAccountedAsync([id], [id], []);
        }
    }
}
