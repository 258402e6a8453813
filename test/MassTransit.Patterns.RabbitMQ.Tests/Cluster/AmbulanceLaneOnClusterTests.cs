using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Tests.Ambulance.Messages;
using MassTransit.Patterns.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>
/// The ambulance lane on the 3-node RabbitMQ cluster: the work queue and its lane both quorum queues, asked for the
/// MassTransit way (an <c>AddConfigureEndpointsCallback</c> that calls <c>SetQuorumQueue()</c>, which the lane endpoint
/// runs as the queue endpoint does). A producer on another node sends urgent and normal messages with known ids at a
/// steady pace, at most one send in flight per producer lane; mid-stream the node that leads the LANE queue's Raft group
/// (and holds the consumer bus's connection) is killed with kill -9, then restarted.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AmbulanceLaneOnClusterTests(ITestOutputHelper output)
{
    static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);

    /// <summary>Every consumption: message id, whether through the lane, whether the broker said redelivered, when (since the test began).</summary>
    public sealed class Ledger
    {
        public readonly Stopwatch Clock = Stopwatch.StartNew();
        public readonly ConcurrentQueue<(Guid Id, bool Lane, bool Redelivered, TimeSpan At)> All = new();
    }

    public sealed class WorkConsumer(Ledger ledger) : IConsumer<Work>
    {
        public async Task Consume(ConsumeContext<Work> context)
        {
            await Task.Delay(5, context.CancellationToken);
            var lane = context.ReceiveContext.InputAddress.GetEndpointName()!.EndsWith(AmbulanceLaneOptions.DefaultSuffix, StringComparison.Ordinal);
            ledger.All.Enqueue((context.MessageId!.Value, lane, context.ReceiveContext.Redelivered, ledger.Clock.Elapsed));
        }
    }

    static bool IsUrgent(Work work) => work.Number % 4 == 0;

    [Fact]
    public async Task The_lane_queues_leader_node_killed_mid_stream_leaves_each_urgent_message_consumed_once_through_the_lane_and_each_normal_one_once()
    {
        const int messages = 800;
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        var mgmt = ServiceEnvironment.RabbitClusterManagementPorts;
        var queue = $"amb-cluster-{Guid.NewGuid():N}"[..30];
        var lane = queue + AmbulanceLaneOptions.DefaultSuffix;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var urgentIds = ids.Where((_, i) => IsUrgent(new Work(i))).ToHashSet();
        var normalIds = ids.Where(id => !urgentIds.Contains(id)).ToHashSet();
        var ledger = new Ledger();
        using var dropped = new InstrumentCount(AmbulanceMetrics.LaneCopiesName, PatternsTags.Queue, queue);

        ServiceProvider? consumer = null, producer = null;
        try
        {
            // The consumer bus connects first to node 1: the queues' leaders are placed on the declaring client's node.
            // How a user asks for quorum queues: the callback runs for the queue endpoint and, with the queue's name, for its lane.
            consumer = ConsumerBus(ports, queue, ledger, quorum: _ => true);
            await consumer.GetRequiredService<IBusControl>().StartAsync();

            foreach (var name in new[] { queue, lane })
            {
                var (type, members) = await QueueTypeAsync(name);
                output.WriteLine($"{name}: {type}, members {string.Join(", ", members)}");
                Assert.Equal("quorum", type);
                Assert.Equal(mgmt.Length, members.Distinct().Count());
            }
            var laneLeader = await ClusterManagement.LeaderAsync(lane);
            var queueLeader = await ClusterManagement.LeaderAsync(queue);
            await ClusterManagement.AllMembersOnlineAsync(lane);
            await ClusterManagement.AllMembersOnlineAsync(queue);
            output.WriteLine($"lane {lane} led by cluster node {laneLeader}, queue {queue} by node {queueLeader}; every member online");

            // The producer connects first to a node that survives, so the failover measured is the lane's, not the producer's.
            var survivor = laneLeader % ports.Length;
            producer = new ServiceCollection()
                .AddMetrics()
                .AddMassTransit(x => x.UsingRabbitMq((context, cfg) =>
                {
                    ClusterHost(cfg, [.. ports.Skip(survivor), .. ports.Take(survivor)]);
                    cfg.UseAmbulanceLane(context, a => a.Urgent<Work>(IsUrgent));
                }))
                .BuildServiceProvider(true);
            var producerBus = producer.GetRequiredService<IBusControl>();
            await producerBus.StartAsync();
            var sender = new PacedSender(producerBus, new Uri($"exchange:{queue}"), ids);
            var sending = sender.RunAsync(lanes: 4, pace: TimeSpan.FromMilliseconds(20));

            await Eventually.True(() => sender.Confirmed >= messages / 3, Recovery, "a third of the stream is confirmed");
            var confirmedAtKill = sender.Confirmed;
            // The kill -9 happens while the script runs: the failover is measured from the script's end (and reported from its start too).
            var killStarted = ledger.Clock.Elapsed;
            await ServiceEnvironment.RunServicesScriptAsync($"cluster-kill {laneLeader}");
            var killedAt = ledger.Clock.Elapsed;
            await Eventually.True(() => ledger.All.Any(c => c.Lane && c.At > killedAt), Recovery,
                "an urgent message is consumed through the lane after its leader's node died", TimeSpan.FromMilliseconds(50));
            var failover = ledger.All.Where(c => c.Lane && c.At > killedAt).Min(c => c.At) - killedAt;
            await Eventually.True(() => ledger.All.Any(c => !c.Lane && c.At > killedAt), Recovery, "a normal message is consumed after the kill",
                TimeSpan.FromMilliseconds(50));
            var normalFailover = ledger.All.Where(c => !c.Lane && c.At > killedAt).Min(c => c.At) - killedAt;
            var newLaneLeader = await ClusterManagement.LeaderAsync(lane);
            await sending;
            await ServiceEnvironment.RunServicesScriptAsync($"cluster-start {laneLeader}");
            output.WriteLine($"lane leader node {laneLeader} killed at {confirmedAtKill} of {messages} confirmed: next urgent consumed through the lane after " +
                $"{failover.TotalSeconds:0.00} s ({(failover + killedAt - killStarted).TotalSeconds:0.00} s after the kill script started), next normal after {normalFailover.TotalSeconds:0.00} s, new lane leader {newLaneLeader}; node restarted");

            await Eventually.True(() => ledger.All.Select(c => c.Id).Distinct().Count() >= messages, Recovery, "every message is consumed",
                TimeSpan.FromMilliseconds(250));

            // Each consumption after the first of an id is explained: redelivered by the broker (its acknowledgement died with
            // the channel), or a send the producer repeated after no confirm came, which the cluster had taken after all.
            var all = ledger.All.ToArray();
            var byId = all.GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.ToArray());
            var again = byId.Values.SelectMany(g => g.Skip(1)).ToArray();
            var redelivered = again.Count(c => c.Redelivered && c.At > killStarted);
            var resent = again.Count(c => !(c.Redelivered && c.At > killStarted) && sender.Attempts(c.Id) > 1);
            var unexplained = again.Length - redelivered - resent;
            var urgentThroughQueue = byId.Where(p => urgentIds.Contains(p.Key)).Count(p => p.Value.Any(c => !c.Lane));
            var urgentThroughBoth = byId.Where(p => urgentIds.Contains(p.Key)).Count(p => p.Value.Any(c => c.Lane) && p.Value.Any(c => !c.Lane));
            var normalThroughLane = byId.Where(p => normalIds.Contains(p.Key)).Count(p => p.Value.Any(c => c.Lane));
            output.WriteLine($"sent {messages} ({urgentIds.Count} urgent), send attempts {sender.TotalAttempts} (unconfirmed then resent {sender.TotalAttempts - messages}), " +
                $"consumptions {all.Length} (lane {all.Count(c => c.Lane)}, queue {all.Count(c => !c.Lane)}), consumed again {again.Length} " +
                $"(redelivered {redelivered}, resent {resent}, unexplained {unexplained}), urgent through the queue {urgentThroughQueue}, " +
                $"urgent through both {urgentThroughBoth}, normal through the lane {normalThroughLane}, lane copies dropped at the queue {dropped.Count}");

            Assert.NotEqual(laneLeader, newLaneLeader);
            Assert.True(confirmedAtKill < messages, "the lane's leader died mid-stream");
            Assert.Equal(0, urgentThroughBoth);
            Assert.Equal(0, urgentThroughQueue);
            Assert.Equal(0, normalThroughLane);
            Assert.Equal(0, unexplained);

            var reader = new RabbitNode("cluster", ports[survivor], ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword,
                new Uri($"http://{ServiceEnvironment.RabbitHost}:{mgmt[survivor]}/"));
            await new MessageAccount()
                .Sent(ids)
                .Place("urgent, consumed through the lane (first time, by id)",
                    () => byId.Where(p => p.Value[0].Lane).Select(p => p.Key).ToArray(), Expect.Ids(urgentIds))
                .Place("normal, consumed through the queue (first time, by id)",
                    () => byId.Where(p => !p.Value[0].Lane).Select(p => p.Key).ToArray(), Expect.Ids(normalIds))
                .Copies("consumed again: redelivered after the node loss", () => redelivered, Expect.Any)
                .Copies("consumed again: a resent send the cluster had taken", () => resent, Expect.Any)
                .Copies("lane copies dropped at the queue (one per urgent message taken)", () => dropped.Count, Expect.Between(urgentIds.Count, long.MaxValue))
                .Endpoint(queue, Expect.Empty, reader)
                .Endpoint(lane, Expect.Empty, reader)
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            // Whatever happened, the cluster is whole again for the next test.
            await ServiceEnvironment.RunServicesScriptAsync("start");
            foreach (var provider in new[] { producer, consumer })
            {
                if (provider is null)
                    continue;
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await provider.GetRequiredService<IBusControl>().StopAsync(stop.Token);
                await provider.DisposeAsync();
            }
            await ClusterManagement.DeleteQueuesAsync(queue, lane);
            await ClusterManagement.DeleteExchangesAsync(queue, lane, lane + ".urgent");
        }
    }

    /// <summary>
    /// A configuration that makes only the queue's endpoint a quorum queue (a callback that picks it by its address): the
    /// lane follows its queue's type. Were it a classic queue, it would live on one node, and while that node is down
    /// the broker would confirm urgent messages (the queue took them) that the queue then drops as the lane's copies.
    /// </summary>
    [Fact]
    public async Task Urgent_messages_confirmed_while_the_lanes_node_is_down_are_consumed_when_only_the_queue_was_asked_for_as_quorum()
    {
        const int messages = 20;
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        var mgmt = ServiceEnvironment.RabbitClusterManagementPorts;
        var queue = $"amb-follow-{Guid.NewGuid():N}"[..30];
        var lane = queue + AmbulanceLaneOptions.DefaultSuffix;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var ledger = new Ledger();
        ServiceProvider? consumer = null, producer = null;
        try
        {
            consumer = ConsumerBus(ports, queue, ledger, quorum: cfg => cfg.InputAddress.GetEndpointName() == queue);
            await consumer.GetRequiredService<IBusControl>().StartAsync();
            var laneNode = await HomeNodeAsync(lane);
            // Both Raft groups whole before the kill: a group whose followers do not run yet has no majority once its leader dies.
            await ClusterManagement.AllMembersOnlineAsync(queue);
            await ClusterManagement.AllMembersOnlineAsync(lane);

            var survivor = laneNode % ports.Length;
            producer = new ServiceCollection()
                .AddMetrics()
                .AddMassTransit(x => x.UsingRabbitMq((context, cfg) =>
                {
                    ClusterHost(cfg, [.. ports.Skip(survivor), .. ports.Take(survivor)]);
                    cfg.UseAmbulanceLane(context, a => a.Urgent<Work>(IsUrgent));
                }))
                .BuildServiceProvider(true);
            var producerBus = producer.GetRequiredService<IBusControl>();
            await producerBus.StartAsync();

            // The producer has been sending (its channel publishes to both queues) when the lane's node dies.
            var sender = new PacedSender(producerBus, new Uri($"exchange:{queue}"), ids);
            await sender.RunAsync(lanes: 1, pace: TimeSpan.Zero, to: 4);
            await ServiceEnvironment.RunServicesScriptAsync($"cluster-kill {laneNode}");
            await sender.RunAsync(lanes: 1, pace: TimeSpan.Zero, from: 4);
            output.WriteLine($"lane {lane} on cluster node {laneNode}, killed after 4 sends; {sender.Confirmed - 4} of {messages - 4} sends confirmed while it was down " +
                $"({sender.TotalAttempts - 4} attempts)");
            await ServiceEnvironment.RunServicesScriptAsync($"cluster-start {laneNode}");

            await new MessageAccount()
                .Sent(ids)
                .Place("consumed (by id)", () => ledger.All.Select(c => c.Id).Distinct().ToArray(), Expect.Ids(ids))
                .Copies("consumed again", () => ledger.All.Count - ledger.All.Select(c => c.Id).Distinct().Count(), Expect.Any)
                .Endpoint(queue, Expect.Empty, new RabbitNode("cluster", ports[survivor], ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword,
                    new Uri($"http://{ServiceEnvironment.RabbitHost}:{mgmt[survivor]}/")))
                .Endpoint(lane, Expect.Empty, new RabbitNode("cluster", ports[survivor], ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword,
                    new Uri($"http://{ServiceEnvironment.RabbitHost}:{mgmt[survivor]}/")))
                .AssertAllAccountedAsync(Recovery);
            var urgentThroughLane = ledger.All.Count(c => c.Lane && IsUrgent(new Work(Array.IndexOf(ids, c.Id))));
            output.WriteLine($"consumed {ledger.All.Select(c => c.Id).Distinct().Count()} of {messages}, urgent through the lane {urgentThroughLane}");
            var (laneType, laneMembers) = await QueueTypeAsync(lane);
            Assert.Equal("quorum", laneType);
            Assert.Equal(mgmt.Length, laneMembers.Distinct().Count());
        }
        finally
        {
            await ServiceEnvironment.RunServicesScriptAsync("start");
            foreach (var provider in new[] { producer, consumer })
            {
                if (provider is null)
                    continue;
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                await provider.GetRequiredService<IBusControl>().StopAsync(stop.Token);
                await provider.DisposeAsync();
            }
            await ClusterManagement.DeleteQueuesAsync(queue, lane);
            await ClusterManagement.DeleteExchangesAsync(queue, lane, lane + ".urgent");
        }
    }

    /// <summary>The node (1..N) of a classic queue, or the leader of a quorum queue.</summary>
    static async Task<int> HomeNodeAsync(string queue) =>
        ClusterManagement.NodeNumber(await ClusterManagement.QueueAsync(queue, json =>
        {
            var node = json.TryGetProperty("leader", out var leader) ? leader : json.TryGetProperty("node", out var home) ? home : default;
            return node.ValueKind == JsonValueKind.String && node.GetString() is { Length: > 0 } name ? name : null;
        }, $"the management API names the node of {queue}", TimeSpan.FromSeconds(30)));

    /// <summary>
    /// The consumer's bus on the cluster: <see cref="WorkConsumer"/> on <paramref name="queue"/> with its ambulance lane,
    /// each endpoint <paramref name="quorum"/> picks declared as a quorum queue.
    /// </summary>
    static ServiceProvider ConsumerBus(int[] ports, string queue, Ledger ledger, Func<IReceiveEndpointConfigurator, bool> quorum) =>
        new ServiceCollection()
            .AddMetrics()
            .AddSingleton(ledger)
            .AddMassTransit(x =>
            {
                x.AddConsumer<WorkConsumer>().Endpoint(e => e.Name = queue);
                x.AddConfigureEndpointsCallback((_, _, cfg) =>
                {
                    if (quorum(cfg) && cfg is IRabbitMqReceiveEndpointConfigurator rabbit)
                        rabbit.SetQuorumQueue();
                });
                x.UsingRabbitMq((context, cfg) =>
                {
                    ClusterHost(cfg, ports);
                    cfg.UseAmbulanceLane(context, a =>
                    {
                        a.Urgent<Work>(IsUrgent);
                        a.Endpoint(queue);
                    });
                    cfg.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);

    static void ClusterHost(IRabbitMqBusFactoryConfigurator cfg, int[] ports) =>
        cfg.Host(ServiceEnvironment.RabbitHost, (ushort)ports[0], "/", h =>
        {
            h.Username(ServiceEnvironment.RabbitUser);
            h.Password(ServiceEnvironment.RabbitPassword);
            h.UseCluster(c =>
            {
                foreach (var port in ports)
                    c.Node($"{ServiceEnvironment.RabbitHost}:{port}");
            });
        });

    /// <summary>The queue's type and the nodes of its members, from the management API of any node that answers.</summary>
    static async Task<(string Type, string[] Members)> QueueTypeAsync(string queue)
    {
        var described = await ClusterManagement.QueueAsync(queue, json => Tuple.Create(json.GetProperty("type").GetString()!,
                json.TryGetProperty("members", out var m) ? m.EnumerateArray().Select(e => e.GetString()!).ToArray() : []),
            $"the management API describes {queue}", TimeSpan.FromSeconds(30));
        return (described.Item1, described.Item2);
    }

    /// <summary>
    /// Producer lanes that send their share of the ids in order, paced, one send in flight per lane: a send the cluster did
    /// not confirm (nack, timeout, lost connection) is sent again, with the same id, before the lane's next.
    /// </summary>
    sealed class PacedSender(IBus bus, Uri destination, Guid[] ids)
    {
        readonly ConcurrentDictionary<Guid, int> _attempts = new();
        int _confirmed;

        public int Confirmed => Volatile.Read(ref _confirmed);

        public int TotalAttempts => _attempts.Values.Sum();

        public int Attempts(Guid id) => _attempts.GetValueOrDefault(id);

        public Task RunAsync(int lanes, TimeSpan pace, int from = 0, int? to = null) => Task.WhenAll(Enumerable.Range(0, lanes).Select(async lane =>
        {
            var endpoint = await bus.GetSendEndpoint(destination);
            for (var i = from + lane; i < (to ?? ids.Length); i += lanes)
            {
                var watch = Stopwatch.StartNew();
                while (true)
                {
                    _attempts.AddOrUpdate(ids[i], 1, (_, n) => n + 1);
                    try
                    {
                        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                        var id = ids[i];
                        await endpoint.Send(new Work(i), ctx => ctx.MessageId = id, timeout.Token);
                        Interlocked.Increment(ref _confirmed);
                        break;
                    }
                    catch (Exception) when (watch.Elapsed < Recovery)
                    {
                        await Task.Delay(200);
                    }
                }
                await Task.Delay(pace);
            }
        }));
    }
}
