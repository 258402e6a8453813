using System.Collections.Concurrent;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Ambulance.Messages
{
    public record Refund(int Number, bool Bad);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Ambulance
{
    using Messages;

    public sealed class RefundRejectedException(string message) : Exception(message);

    /// <summary>Good refunds consumed, by message id, with the queue each was read from; attempts per message id.</summary>
    public sealed class RefundLedger
    {
        public readonly ConcurrentDictionary<Guid, ConcurrentQueue<string>> Consumed = new();
        public readonly ConcurrentDictionary<Guid, int> Attempts = new();
    }

    public sealed class RefundConsumer(RefundLedger ledger) : IConsumer<Refund>
    {
        public Task Consume(ConsumeContext<Refund> context)
        {
            var id = context.MessageId!.Value;
            ledger.Attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
            if (context.Message.Bad)
                throw new RefundRejectedException($"refund {context.Message.Number} exceeds the payment");
            ledger.Consumed.GetOrAdd(id, _ => new ConcurrentQueue<string>()).Enqueue(context.ReceiveContext.InputAddress.GetEndpointName() ?? "");
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// The ambulance lane beside an endpoint whose consumer hands its non-transient failures to the
    /// workflow event, on the real broker: a bad urgent message, read from the lane queue, must reach
    /// the workflow store as a bad normal one does, not <c>X_lane_error</c>; every good message is
    /// consumed once; the error queues stay empty.
    /// </summary>
    public sealed class AmbulanceCompositionOnRabbitMqTests
    {
        const int Total = 60;
        static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);

        public enum Registration
        {
            /// <summary>docs/workflow-event.md (Turn it on): <c>AddConsumer&lt;C&gt;(c =&gt; retry).Endpoint(e =&gt; e.AddConfigureEndpointCallback(...))</c>.</summary>
            ConsumerEndpointCallback,

            /// <summary><c>x.AddConfigureEndpointsCallback((ctx, name, cfg) =&gt; { if (name == queue) ... })</c>.</summary>
            ConfigureEndpointsCallbackByName
        }

        sealed class Rig(ServiceProvider provider, string queue, string repairQueue) : IAsyncDisposable
        {
            public string Queue => queue;
            public string RepairQueue => repairQueue;
            public string Lane => queue + AmbulanceLaneOptions.DefaultSuffix;
            public ITestHarness Harness => provider.GetRequiredService<ITestHarness>();
            public RefundLedger Ledger => provider.GetRequiredService<RefundLedger>();

            public static async Task<Rig> StartAsync(Registration registration)
            {
                var queue = Broker.UniqueQueue("amb-wf");
                var repairQueue = Broker.UniqueQueue("amb-wf-repair");
                var repairAddress = new Uri($"exchange:{repairQueue}");
                var provider = new ServiceCollection()
                    .AddMetrics()
                    .AddSingleton<RefundLedger>()
                    .AddMassTransitTestHarness(x =>
                    {
                        x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(60));
                        x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).InMemoryRepository();
                        var consumer = x.AddConsumer<RefundConsumer>(c => c.UseMessageRetry(r => r.Immediate(2)));
                        if (registration == Registration.ConsumerEndpointCallback)
                            consumer.Endpoint(e =>
                            {
                                e.Name = queue;
                                e.ConcurrentMessageLimit = 4;
                                e.AddConfigureEndpointCallback((ctx, cfg) => cfg.UseWorkflowEvent(ctx, o =>
                                {
                                    o.RepairAddress = repairAddress;
                                    o.Delegate<RefundRejectedException>();
                                }));
                            });
                        else
                        {
                            consumer.Endpoint(e =>
                            {
                                e.Name = queue;
                                e.ConcurrentMessageLimit = 4;
                            });
                            x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                            {
                                if (name == queue)
                                    cfg.UseWorkflowEvent(ctx, o =>
                                    {
                                        o.RepairAddress = repairAddress;
                                        o.Delegate<RefundRejectedException>();
                                    });
                            });
                        }
                        x.UsingRabbitMq((context, cfg) =>
                        {
                            cfg.Host(Broker.BusHost(), h =>
                            {
                                h.Username(ServiceEnvironment.RabbitUser);
                                h.Password(ServiceEnvironment.RabbitPassword);
                            });
                            cfg.UseAmbulanceLane(context, a => a.Endpoint(queue, lane => lane.ConcurrentMessageLimit = 2));
                            cfg.ConfigureEndpoints(context);
                        });
                    })
                    .BuildServiceProvider(true);
                var rig = new Rig(provider, queue, repairQueue);
                try
                {
                    await rig.Harness.Start();
                }
                catch
                {
                    await rig.DisposeAsync();
                    throw;
                }
                return rig;
            }

            public async Task<WorkflowEventState?> StoredAsync(Guid id) =>
                await provider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>().Load(id);

            public async Task<int> StoredCountAsync(IEnumerable<Guid> ids)
            {
                var count = 0;
                foreach (var id in ids)
                    if (await StoredAsync(id) is not null)
                        count++;
                return count;
            }

            /// <summary>The message ids in a queue, read without taking them (they return to the queue when the channel closes).</summary>
            public static async Task<IReadOnlyList<Guid>> PeekAsync(string name)
            {
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                await using var channel = await connection.CreateChannelAsync();
                try
                {
                    await channel.QueueDeclarePassiveAsync(name);
                }
                catch (global::RabbitMQ.Client.Exceptions.OperationInterruptedException)
                {
                    return []; // never declared: nothing went there
                }
                var ids = new List<Guid>();
                while (await channel.BasicGetAsync(name, autoAck: false) is { } message)
                    ids.Add(Guid.Parse(message.BasicProperties.MessageId!));
                return ids;
            }

            public async ValueTask DisposeAsync()
            {
                await Harness.Stop();
                await provider.DisposeAsync();
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                await using var channel = await connection.CreateChannelAsync();
                foreach (var name in new[] { Queue, Lane, repairQueue })
                    foreach (var suffix in new[] { "", "_error", "_skipped" })
                    {
                        await channel.QueueDeleteAsync(name + suffix);
                        await channel.ExchangeDeleteAsync(name + suffix);
                    }
                await channel.ExchangeDeleteAsync(Lane + ".urgent");
            }
        }

        [Theory]
        [InlineData(Registration.ConsumerEndpointCallback)]
        [InlineData(Registration.ConfigureEndpointsCallbackByName)]
        public async Task A_bad_urgent_message_is_handed_to_the_workflow_from_the_lane_queue_and_every_message_ends_in_exactly_one_place(Registration registration)
        {
            await using var rig = await Rig.StartAsync(registration);
            var endpoint = await rig.Harness.Bus.GetSendEndpoint(new Uri($"exchange:{rig.Queue}"));

            // Half urgent; in each half one in five bad.
            var goodNormal = new List<Guid>();
            var goodUrgent = new List<Guid>();
            var badNormal = new List<Guid>();
            var badUrgent = new List<Guid>();
            for (var n = 0; n < Total; n++)
            {
                var urgent = n % 2 == 1;
                var bad = n / 2 % 5 == 4;
                var id = NewId.NextGuid();
                await endpoint.Send(new Refund(n, bad), ctx =>
                {
                    ctx.MessageId = id;
                    if (urgent)
                        ctx.SetUrgent();
                });
                (bad ? urgent ? badUrgent : badNormal : urgent ? goodUrgent : goodNormal).Add(id);
            }
            var bads = badNormal.Concat(badUrgent).ToList();

            // Every message has reached an end: consumed, in the workflow store, or in an error queue.
            await Eventually.True(async () => rig.Ledger.Consumed.Count + await rig.StoredCountAsync(bads)
                    + (await Rig.PeekAsync(rig.Queue + "_error")).Count + (await Rig.PeekAsync(rig.Lane + "_error")).Count >= Total,
                Deadline, "every refund consumed, handed to the workflow or moved to an error queue", TimeSpan.FromMilliseconds(200));
            await rig.Harness.InactivityTask;

            var laneErrors = await Rig.PeekAsync(rig.Lane + "_error");
            Assert.True(laneErrors.Count == 0,
                $"{laneErrors.Count} bad urgent refunds dead-ended in {rig.Lane}_error instead of the workflow store (tried {string.Join(", ", laneErrors.Select(id => rig.Ledger.Attempts.GetValueOrDefault(id)))} times each)");
            Assert.Empty(await Rig.PeekAsync(rig.Queue + "_error"));

            // Every bad message waits in the workflow store, handed off from the queue that delivered it.
            foreach (var (ids, from) in new[] { (badNormal, rig.Queue), (badUrgent, rig.Lane) })
                foreach (var id in ids)
                {
                    var saga = await rig.StoredAsync(id);
                    Assert.NotNull(saga);
                    Assert.Equal("AwaitingPerson", saga.CurrentState);
                    Assert.EndsWith("/" + from, saga.SourceAddress);
                }

            // Every good message is consumed once, by message id: normal from the queue, urgent from the lane.
            Assert.All(goodNormal, id => Assert.Equal([rig.Queue], rig.Ledger.Consumed[id].ToArray()));
            Assert.All(goodUrgent, id => Assert.Equal([rig.Lane], rig.Ledger.Consumed[id].ToArray()));
            Assert.Equal(goodNormal.Count + goodUrgent.Count, rig.Ledger.Consumed.Count);
            Assert.False(bads.Any(rig.Ledger.Consumed.ContainsKey), "no bad refund was consumed");

            // Every message in exactly one place: consumed (good), waiting in the workflow store (bad); the queue, its lane,
            // the repair queue and every sibling (_error, _skipped, _lane_error, _lane_skipped) empty.
            await new MessageAccount()
                .Sent(goodNormal.Concat(goodUrgent).Concat(bads))
                .Place("consumed (by message id)", () => rig.Ledger.Consumed.Keys.ToArray(), Expect.Ids(goodNormal.Concat(goodUrgent)))
                .Place("waiting for a person (workflow store)", async _ =>
                {
                    var waiting = new List<Guid>();
                    foreach (var id in bads)
                        if (await rig.StoredAsync(id) is { CurrentState: "AwaitingPerson" })
                            waiting.Add(id);
                    return PlaceReading.Of(waiting);
                }, Expect.Ids(bads))
                .Endpoint(rig.Queue, Expect.Empty)
                .Endpoint(rig.RepairQueue, Expect.Empty)
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
        }
    }
}
