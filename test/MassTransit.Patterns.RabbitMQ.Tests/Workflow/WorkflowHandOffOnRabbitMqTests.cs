using System.Collections.Concurrent;
using System.Text;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Workflow.Messages
{
    public record MoveFunds(string Account, int Step, decimal Amount);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Workflow
{
    using Messages;

    /// <summary>What the transfer consumer processed, in order, by message id (a resubmitted or released copy keeps its id).</summary>
    public sealed class TransferLedger
    {
        public readonly ConcurrentDictionary<Guid, int> ById = new();
        public readonly ConcurrentQueue<(string Account, Guid Id)> Order = new();
    }

    public sealed class MoveFundsConsumer(TransferLedger ledger) : IConsumer<MoveFunds>
    {
        public Task Consume(ConsumeContext<MoveFunds> context)
        {
            if (context.Message.Amount <= 0)
                throw new PaymentRejectedException($"amount {context.Message.Amount}");
            var id = context.GetWorkflowOriginalMessageId()!.Value;
            ledger.ById.AddOrUpdate(id, 1, (_, n) => n + 1);
            ledger.Order.Enqueue((context.Message.Account, id));
            return Task.CompletedTask;
        }
    }

    /// <summary>Deliveries of one queue that went through the whole receive pipe (dead-letter or error move and acknowledgement included).</summary>
    public sealed class SettledDeliveries(string queue) : IReceiveObserver
    {
        int _total;

        public int Total => Volatile.Read(ref _total);

        public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostReceive(ReceiveContext context)
        {
            if (context.InputAddress.AbsolutePath.EndsWith("/" + queue, StringComparison.Ordinal))
                Interlocked.Increment(ref _total);
            return Task.CompletedTask;
        }

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

        // A receive pipe that throws has not settled: the broker delivers the message again.
        public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
    }

    /// <summary>
    /// Where every message ends on a real broker once the workflow event handed it off or held it: consumed
    /// once, or in the workflow store in one of its states, and nowhere else: no copy in the source queue's
    /// <c>_skipped</c> (MassTransit dead-letters a receive that ends neither consumed nor faulted) or <c>_error</c>.
    /// </summary>
    public sealed class WorkflowHandOffOnRabbitMqTests
    {
        static readonly string[] FinalStates = ["Completed", "AwaitingPerson", "Discarded"];

        sealed class Rig : IAsyncDisposable
        {
            readonly ServiceProvider _provider;

            Rig(ServiceProvider provider, string queue, string repairQueue)
            {
                _provider = provider;
                Queue = queue;
                RepairQueue = repairQueue;
                Bus = provider.GetRequiredService<IBusControl>();
                Settled = new SettledDeliveries(queue);
                Bus.ConnectReceiveObserver(Settled);
                Client = new WorkflowEventClient(Bus, new Uri($"exchange:{repairQueue}"), TimeSpan.FromSeconds(30));
            }

            public string Queue { get; }
            public string RepairQueue { get; }
            public IBusControl Bus { get; }
            public SettledDeliveries Settled { get; }
            public WorkflowEventClient Client { get; }
            public T Get<T>() where T : notnull => _provider.GetRequiredService<T>();

            public static async Task<Rig> StartAsync(bool holdByKey)
            {
                var queue = Broker.UniqueQueue("wf-ho");
                var repairQueue = Broker.UniqueQueue("wf-ho-repair");
                var connection = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
                { Database = $"wfho_{Guid.NewGuid():N}"[..24], MaxPoolSize = 30 }.ConnectionString;
                var services = new ServiceCollection()
                    .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                    .AddSingleton<PaymentLedger>()
                    .AddSingleton<TransferLedger>()
                    .AddDbContext<WorkflowRabbitDb>(o => o.UseNpgsql(connection));
                services.AddMassTransit(x =>
                {
                    x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowRabbitDb>());
                    x.AddMessageRepairer<SubmitPayment, CurrencyRepairer>();
                    if (holdByKey)
                    {
                        x.AddWorkflowEventHoldByKey(o => o.ProcessorAddress = new Uri($"exchange:{repairQueue}"));
                        x.AddConsumer<MoveFundsConsumer>().Endpoint(e =>
                        {
                            e.Name = queue;
                            e.ConcurrentMessageLimit = 1; // consumed in the order received, so the order of release shows
                        });
                    }
                    else
                        x.AddConsumer<PaymentConsumer>().Endpoint(e =>
                        {
                            e.Name = queue;
                            e.ConcurrentMessageLimit = 8;
                        });
                    x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                    {
                        if (name == queue)
                            cfg.UseWorkflowEvent(ctx, o =>
                            {
                                o.RepairAddress = new Uri($"exchange:{repairQueue}");
                                if (holdByKey)
                                    o.HoldByKey<MoveFunds>(m => m.Account);
                            });
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
                var rig = new Rig(provider, queue, repairQueue);
                await rig.Bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
                if (holdByKey)
                    await rig.Get<WorkflowHoldRegistry>().Ready.WaitAsync(TimeSpan.FromSeconds(30)); // the loader asked the processor
                return rig;
            }

            public async Task<Dictionary<Guid, WorkflowEventState>> RowsAsync()
            {
                await using var scope = _provider.CreateAsyncScope();
                return await scope.ServiceProvider.GetRequiredService<WorkflowRabbitDb>().Set<WorkflowEventState>().AsNoTracking()
                    .ToDictionaryAsync(r => r.CorrelationId);
            }

            /// <summary>Ready messages in a queue, by passive declare; a queue never declared has none.</summary>
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
                    return 0;
                }
            }

            /// <summary>The depth of every queue a message of this rig could end in besides a consumer and the store.</summary>
            public async Task<Dictionary<string, uint>> DeadEndDepthsAsync()
            {
                var depths = new Dictionary<string, uint>();
                foreach (var name in new[] { Queue, Queue + "_skipped", Queue + "_error", RepairQueue, RepairQueue + "_skipped", RepairQueue + "_error" })
                    depths[name] = await DepthAsync(name);
                return depths;
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

        static string Describe(Dictionary<string, uint> depths) => string.Join(", ", depths.Select(d => $"{d.Key}={d.Value}"));

        [Fact]
        public async Task Every_message_ends_consumed_once_or_in_the_workflow_store_and_skipped_and_error_stay_empty()
        {
            const int total = 300;
            await using var rig = await Rig.StartAsync(holdByKey: false);
            var ledger = rig.Get<PaymentLedger>();
            var endpoint = await rig.Bus.GetSendEndpoint(new Uri($"exchange:{rig.Queue}"));

            var good = new List<Guid>();
            var repairable = new List<Guid>();    // no currency: repaired, resubmitted, processed
            var unrepairable = new List<Guid>();  // bad amount: waits for a person
            var notTheType = new List<Guid>();    // valid JSON, not a SubmitPayment: fails in the consume pipe
            var notJson = new List<Guid>();       // not JSON: fails in the receive pipe, captured by the error pipe
            await using (var connection = await Broker.Factory().CreateConnectionAsync())
            await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
            {
                async Task PublishRawAsync(Guid id, string body)
                {
                    var properties = new BasicProperties { ContentType = "application/vnd.masstransit+json", MessageId = id.ToString(), Persistent = true };
                    await channel.BasicPublishAsync(rig.Queue, "", false, properties, Encoding.UTF8.GetBytes(body));
                }

                for (var n = 0; n < total; n++)
                {
                    var id = NewId.NextGuid();
                    switch (n % 20)
                    {
                        case 4:
                            repairable.Add(id);
                            await endpoint.Send(new SubmitPayment(n, 10 + n, null), c => c.MessageId = id);
                            break;
                        case 9:
                            unrepairable.Add(id);
                            await endpoint.Send(new SubmitPayment(n, -1, "USD"), c => c.MessageId = id);
                            break;
                        case 14:
                            notTheType.Add(id);
                            await PublishRawAsync(id,
                                $$$"""{"messageId":"{{{id}}}","messageType":["urn:message:MassTransit.Patterns.RabbitMQ.Tests.Workflow.Messages:SubmitPayment"],"message":{"number":"not a number","amount":5,"currency":"EUR"}}""");
                            break;
                        case 19:
                            notJson.Add(id);
                            await PublishRawAsync(id, "{\"messageType\":[\"urn:message:MassTransit.Patterns.RabbitMQ.Tests.Workflow.Messages:SubmitPayment\"],\"message\":{\"amount\":");
                            break;
                        default:
                            good.Add(id);
                            await endpoint.Send(new SubmitPayment(n, 10 + n, "USD"), c => c.MessageId = id);
                            break;
                    }
                }
            }

            // Settled: every delivery went through the whole receive pipe (a repaired message is delivered twice),
            // and every handed-off message is in a final state of its workflow.
            var handedOff = repairable.Concat(unrepairable).Concat(notTheType).Concat(notJson).ToList();
            await Eventually.True(() => rig.Settled.Total == total + repairable.Count, TimeSpan.FromSeconds(60),
                $"every delivery settles ({rig.Settled.Total} of {total + repairable.Count})", TimeSpan.FromMilliseconds(100));
            Dictionary<Guid, WorkflowEventState> rows = [];
            await Eventually.True(async () =>
            {
                rows = await rig.RowsAsync();
                return handedOff.All(id => rows.TryGetValue(id, out var row) && FinalStates.Contains(row.CurrentState));
            }, TimeSpan.FromSeconds(60), "every handed-off message reaches a final state", TimeSpan.FromMilliseconds(200));

            // Consumed once by message id.
            Assert.All(good.Concat(repairable), id => Assert.Equal(1, ledger.ById.GetValueOrDefault(id)));
            Assert.Equal(good.Count + repairable.Count, ledger.ById.Count);
            // In the store, in one of the states.
            Assert.Equal(handedOff.ToHashSet(), rows.Keys.ToHashSet());
            Assert.All(repairable, id => Assert.Equal("Completed", rows[id].CurrentState));
            Assert.All(unrepairable.Concat(notTheType).Concat(notJson), id => Assert.Equal("AwaitingPerson", rows[id].CurrentState));
            Assert.All(notTheType.Concat(notJson), id => Assert.True(rows[id].Malformed));
            // Nowhere else.
            var depths = await rig.DeadEndDepthsAsync();
            Assert.True(depths.Values.All(d => d == 0), "no message is left in a queue or a dead end: " + Describe(depths));
            // Every one of the N is in exactly one place: consumed only, or in the store (a repaired one is both, counted once, by its row).
            Assert.Equal(total, ledger.ById.Keys.Count(id => !rows.ContainsKey(id)) + rows.Count);
        }

        [Fact]
        public async Task Held_messages_leave_no_copy_in_skipped_and_are_processed_in_key_order_once_the_leader_is_resolved()
        {
            await using var rig = await Rig.StartAsync(holdByKey: true);
            var ledger = rig.Get<TransferLedger>();
            var endpoint = await rig.Bus.GetSendEndpoint(new Uri($"exchange:{rig.Queue}"));

            async Task<Guid> SendAsync(MoveFunds message)
            {
                var id = NewId.NextGuid();
                await endpoint.Send(message, c => c.MessageId = id);
                return id;
            }

            var leader = await SendAsync(new MoveFunds("A", 0, -5)); // bad: waits for a person, holds key A
            await Eventually.True(async () => (await rig.RowsAsync()).GetValueOrDefault(leader)?.CurrentState == "AwaitingPerson", TimeSpan.FromSeconds(30),
                "the leader of key A waits for a person", TimeSpan.FromMilliseconds(100));
            var held = new List<Guid>();
            var others = new List<Guid>();
            for (var step = 1; step <= 10; step++)
            {
                held.Add(await SendAsync(new MoveFunds("A", step, step)));
                others.Add(await SendAsync(new MoveFunds("B", step, step)));
            }

            await Eventually.True(() => rig.Settled.Total == 1 + held.Count + others.Count, TimeSpan.FromSeconds(30),
                $"every delivery so far settles ({rig.Settled.Total})", TimeSpan.FromMilliseconds(100));
            await Eventually.True(async () => (await rig.RowsAsync()).GetValueOrDefault(leader)?.HeldCount == held.Count, TimeSpan.FromSeconds(30),
                "A's later messages are held behind the leader", TimeSpan.FromMilliseconds(100));
            var whileHeld = await rig.DeadEndDepthsAsync();
            Assert.True(whileHeld.Values.All(d => d == 0), "holding leaves no copy in a queue or a dead end: " + Describe(whileHeld));
            Assert.All(others, id => Assert.Equal(1, ledger.ById.GetValueOrDefault(id)));
            Assert.All(held, id => Assert.Equal(0, ledger.ById.GetValueOrDefault(id)));

            var body = System.Text.Json.Nodes.JsonNode.Parse((await rig.Client.InspectAsync(leader)).Body!)!;
            body["message"]!["amount"] = 5;
            Assert.True((await rig.Client.EditAsync(leader, body.ToJsonString(), "heidi", "amount confirmed")).Accepted);
            Assert.True((await rig.Client.ResubmitAsync(leader, "heidi")).Accepted);

            // Settled: the first deliveries, the leader's resubmitted copy and each released message.
            await Eventually.True(() => rig.Settled.Total == 1 + held.Count + others.Count + 1 + held.Count, TimeSpan.FromSeconds(30),
                $"every delivery settles ({rig.Settled.Total})", TimeSpan.FromMilliseconds(100));
            await Eventually.True(async () => (await rig.RowsAsync()).GetValueOrDefault(leader) is { CurrentState: "Completed", HeldCount: 0 }, TimeSpan.FromSeconds(30),
                "the leader completes and its held messages are released", TimeSpan.FromMilliseconds(100));

            Assert.Equal([leader, .. held], ledger.Order.Where(o => o.Account == "A").Select(o => o.Id));
            Assert.All([leader, .. held, .. others], id => Assert.Equal(1, ledger.ById.GetValueOrDefault(id)));
            Assert.Equal(1 + held.Count + others.Count, ledger.ById.Count);
            Assert.Single(await rig.RowsAsync());
            var after = await rig.DeadEndDepthsAsync();
            Assert.True(after.Values.All(d => d == 0), "no message is left in a queue or a dead end: " + Describe(after));
        }
    }
}
