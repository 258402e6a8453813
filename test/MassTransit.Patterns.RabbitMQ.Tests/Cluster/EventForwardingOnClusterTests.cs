using System.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.FaultHost;
using MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>
/// Event forwarding on the 3-node RabbitMQ cluster that <c>build/services.sh start --cluster 3</c> runs, with quorum
/// queues and the EF Core inbox and outbox on PostgreSQL. The producer and the consumer each connect to the cluster
/// (MassTransit's cluster host configuration: every node's address); the node that leads the work queue's Raft group
/// is killed with kill -9 mid-stream and restarted, or frozen with kill -STOP (a stalled VM: its sockets stay open, nothing
/// answers) and thawed. Nothing restarts the app: its connections move to a surviving node, or wait for the frozen one.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class EventForwardingOnClusterTests(ITestOutputHelper output)
{
    static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);

    /// <summary>How long the killed node stays down, or the frozen node stays frozen.</summary>
    static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);

    /// <summary>How the leader's node fails.</summary>
    public enum NodeFault
    {
        /// <summary>kill -9, restarted after <see cref="Outage"/>.</summary>
        Killed,

        /// <summary>
        /// kill -STOP, thawed after <see cref="Outage"/>: the node's connections stay open and silent (the client's heartbeat
        /// would notice only after 2 x 60 s), and Erlang distribution notices nothing within net_ticktime (60 s).
        /// </summary>
        Frozen
    }

    [Theory]
    [InlineData(0, NodeFault.Killed)]
    [InlineData(8, NodeFault.Killed)]
    [InlineData(0, NodeFault.Frozen)]
    public async Task The_work_queues_leader_node_failing_mid_stream_loses_no_confirmed_message_and_applies_each_once(int batching, NodeFault fault)
    {
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        using var suppressed = new SuppressedCounter();
        var hooks = new ConsumerHooks();
        FaultSuiteRig? rig = null;
        try
        {
            rig = await FaultSuiteRig.StartAsync(FaultBroker.Cluster(), "cluster");
            var queue = rig.Queue;
            await rig.StartConsumerAsync(rig.Settings(batching: batching), hooks);
            var leader = await ClusterManagement.LeaderAsync(queue);
            await ClusterManagement.AllMembersOnlineAsync(queue);
            output.WriteLine($"work queue {queue}: quorum queue led by cluster node {leader}, its 3 members online");

            const int messages = 400;
            var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
            // A send the cluster did not confirm (nack, timeout, lost connection) is kept and sent again under its id.
            var producer = new PacedForwardingProducer(rig.Producer, rig.WorkAddress, ids,
                exception => exception is MessageNotConfirmedException or RequestTimeoutException or OperationCanceledException or MassTransitException);
            var sending = producer.RunAsync(lanes: 4, pace: TimeSpan.FromMilliseconds(20));
            await Eventually.True(() => producer.Confirmed.Count >= messages / 3, Recovery, "a third of the stream is confirmed");
            var confirmedAtKill = producer.Confirmed.Count;
            await using var frozen = fault == NodeFault.Frozen ? FrozenNode.FreezeListener(ports[leader - 1], $"cluster node {leader}") : null;
            if (fault == NodeFault.Killed)
                await ServiceEnvironment.RunServicesScriptAsync($"cluster-kill {leader}");
            var killed = Stopwatch.StartNew();
            // The node stays down for Outage, as long as a supervisor (systemd, Kubernetes) might take to bring it back,
            // whatever the sends do meanwhile: a fault schedule, not a wait for an outcome. The first confirm of a send
            // started after the kill is timed; on RabbitMQ 3.10 it can come only once the node is back, when the
            // producer's channel first published to the queue before the broker recorded the new leader (docs/cluster.md).
            var firstConfirm = producer.FirstConfirmOfASendStartedNow(killed);
            var consumedAtKill = hooks.Handled;
            await Task.Delay(Outage);
            // The management API of a surviving node may wait on a frozen member's statistics: a frozen leader's successor
            // is read once it is thawed (the old leader comes back as a follower of the later term).
            var newLeader = frozen is null ? await ClusterManagement.LeaderAsync(queue) : 0;
            var confirmedInOutage = producer.Confirmed.Count - confirmedAtKill;
            var consumedInOutage = hooks.Handled - consumedAtKill;
            var restarting = killed.Elapsed;
            if (frozen is not null)
                frozen.Thaw();
            else
                await ServiceEnvironment.RunServicesScriptAsync($"cluster-start {leader}");
            var restarted = killed.Elapsed;
            if (frozen is not null)
                newLeader = await ClusterManagement.LeaderAsync(queue);
            var failover = await firstConfirm.WaitAsync(Recovery);
            output.WriteLine($"leader node {leader} {fault}; new leader {newLeader}; first confirm of a send started after the fault at {failover.TotalSeconds:0.0} s " +
                $"({(failover < restarting ? "during the outage" : "once the node was back")}), {confirmedInOutage} confirmed and {consumedInOutage} consumed during the outage; " +
                $"node back (restarted or thawed) at {restarting.TotalSeconds:0.0} s, answering at {restarted.TotalSeconds:0.0} s");

            await sending;
            await producer.ResendUnconfirmedAsync(Recovery);
            await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "every confirmed message is applied", TimeSpan.FromMilliseconds(250));
            var forwarded = rig.Forwarded;
            await Eventually.True(() => forwarded.DistinctSources >= messages, Recovery, "every forwarded event arrives downstream", TimeSpan.FromMilliseconds(250));

            var applied = await rig.AppliedAsync();
            var batches = rig.Batches;
            output.WriteLine($"batching {batching}: messages={messages}, sent={producer.Attempts}, unconfirmed_then_resent={producer.UnconfirmedCalls}, " +
                $"confirmed={producer.Confirmed.Count}, confirmed_at_kill={confirmedAtKill}, consumed={hooks.Handled}, applied={applied.Count}, " +
                $"duplicate_effects={applied.Values.Count(c => c > 1)}, suppressed={suppressed.Count}, forwarded={forwarded.Received.Count}, " +
                $"forwarded_distinct={forwarded.DistinctSources}, batches={batches}");

            // A killed leader is replaced. A frozen one is not within the outage: the queue's record names it until Erlang
            // distribution gives up on the node (net_ticktime, 60 s), and the app's connections on it wait; the stream
            // resumes at the thaw. Either way the guarantees below hold.
            if (fault == NodeFault.Killed)
                Assert.NotEqual(leader, newLeader);
            Assert.True(confirmedAtKill < messages, "the leader died mid-stream");
            Assert.Equal(messages, producer.Confirmed.Count);
            Assert.Equal(ids.Order(), applied.Keys.Order());
            Assert.All(applied, a => Assert.Equal(1, a.Value));
            Assert.True(hooks.Handled >= messages, "every message was handled at least once");
            Assert.Equal(messages, forwarded.DistinctSources);
            Assert.Equal(0, forwarded.SourcesWithSeveralIds);
            FaultSuiteRig.AssertMode(batching, batches);

            // Where every message ended: applied by id, and nothing left in the work or downstream queues on the cluster
            // (read through a node that was not the one failed).
            await rig.AssertAccountedAsync(ids, ports[leader % ports.Length]);
        }
        finally
        {
            // Whatever happened, the cluster is whole again for the next test.
            await ServiceEnvironment.RunServicesScriptAsync("start");
            if (rig is not null)
            {
                await rig.DisposeAsync();
                await ClusterManagement.DeleteQueuesAsync(rig.Queue, rig.Queue + "-downstream");
            }
        }
    }
}
