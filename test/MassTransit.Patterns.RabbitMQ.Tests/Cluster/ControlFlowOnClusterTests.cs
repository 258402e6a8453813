using MassTransit.Patterns.ClusterApp;
using MassTransit.Patterns.ClusterApp.Messages;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>
/// Producer control flow across cluster nodes: the flow monitor runs in an app process connected to node 3 and watches a
/// quorum queue; a producer in another process, connected to node 2, learns its statements through the broker (a
/// temporary queue of its own, on its node) and refuses sends to the slowed queue. Node 2 is killed with kill -9: the
/// producer reconnects to a surviving node, declares its statement queue again, and is throttled again by the next renewal.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ControlFlowOnClusterTests(ITestOutputHelper output)
{
    const int Filling = 30; // the monitor's high watermark is 20, its low 5 (ClusterApp, monitor mode)
    static readonly TimeSpan Start = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The monitor renews its statement every second (lease 3 s). Measured over 6 runs: Slow reached the producer 0.0-0.4 s after the
    /// queue was filled; after node 2's kill the producer's statement endpoint consumed again in 1.0-1.1 s and heard Slow again
    /// 1.2-2.2 s after the kill.
    /// </summary>
    static readonly TimeSpan StatementBound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_monitor_on_node_3_throttles_a_producer_on_node_2_before_and_after_node_2_dies()
    {
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        await ServiceEnvironment.RunServicesScriptAsync("start");
        var queue = $"flow-cl-{Guid.NewGuid():N}"[..24];
        var apps = new List<ClusterAppProcess>();
        IHost? testBus = null;
        try
        {
            ClusterAppSettings Settings(string mode, int node) => new()
            {
                Mode = mode,
                Host = ServiceEnvironment.RabbitHost,
                OwnPort = ports[node - 1],
                ClusterPorts = ports,
                User = ServiceEnvironment.RabbitUser,
                Password = ServiceEnvironment.RabbitPassword,
                Queue = queue,
                SagaQueue = "-",
                Postgres = "-",
                Instance = $"{mode}{node}-{queue[^6..]}"
            };
            var monitor = await ClusterAppProcess.StartAsync(Settings("monitor", 3));
            var producer = await ClusterAppProcess.StartAsync(Settings("producer", 2));
            apps.AddRange([monitor, producer]);
            await monitor.WaitReadyAsync(Start);
            await producer.WaitReadyAsync(Start);
            var names = apps.Select(a => a.Settings.ConnectionName).ToArray();
            var nodes = await NodesAsync(names);
            Assert.True(nodes[names[0]] == 3 && nodes[names[1]] == 2, $"monitor on node 3, producer on node 2: {string.Join(", ", nodes)}");

            // The queue filled past the high watermark (its one consumer holds the first message).
            testBus = await StartTestBusAsync(ports);
            var ids = Enumerable.Range(0, Filling).Select(_ => NewId.NextGuid()).ToArray();
            var endpoint = await testBus.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{queue}"));
            var filledAt = ClusterAppProcess.Now;
            await Task.WhenAll(ids.Select((id, i) => endpoint.Send(new FlowReading(1000 + i), c => c.MessageId = id)));

            // Before: the monitor's Slow reaches the producer on the other node, which refuses sends to the queue.
            await producer.WaitForAsync(() => Slow(producer, filledAt) is not null, StatementBound, "the producer on node 2 hears Slow from the monitor on node 3");
            var slowBefore = Slow(producer, filledAt)!.Value;
            var refusedBefore = await SendAsync(producer, 3);
            output.WriteLine($"before: Slow reached the producer {(slowBefore - filledAt).TotalSeconds:0.0} s after the queue was filled; sends: {refusedBefore}");
            Assert.Equal("REJECTED:3 SENT:0", refusedBefore);

            // kill -9 of node 2, the producer's node: its connection and its statement queue die with it.
            await ServiceEnvironment.RunServicesScriptAsync("cluster-kill 2");
            var killedAt = ClusterAppProcess.Now;
            await producer.WaitForAsync(() => producer.Lines("ENDPOINT-READY", killedAt).Any(l => l.Fields[0].StartsWith("flow-control-", StringComparison.Ordinal)),
                StatementBound, "the producer's statement endpoint is consuming again after its node died");
            var reconnected = producer.Lines("ENDPOINT-READY", killedAt).First(l => l.Fields[0].StartsWith("flow-control-", StringComparison.Ordinal)).At;
            // A statement that arrives after the reconnect crossed from node 3 to the producer's new node.
            await producer.WaitForAsync(() => Slow(producer, reconnected) is not null, StatementBound, "the producer hears Slow again after the reconnect");
            var slowAfter = Slow(producer, reconnected)!.Value;
            var moved = await NodesAsync(names);
            var refusedAfter = await SendAsync(producer, 3);
            output.WriteLine($"after killing node 2: the producer's statement endpoint consuming again {(reconnected - killedAt).TotalSeconds:0.0} s after the kill " +
                $"(now on node {moved[names[1]]}), Slow heard again {(slowAfter - killedAt).TotalSeconds:0.0} s after the kill; sends: {refusedAfter}");
            Assert.NotEqual(2, moved[names[1]]);
            Assert.Equal(3, moved[names[0]]);
            Assert.Equal("REJECTED:3 SENT:0", refusedAfter);
            Assert.False(producer.HasExited, "the producer never restarted");

            // The monitor's consumer drains the queue: Normal reaches the producer, whose sends pass again.
            await ServiceEnvironment.RunServicesScriptAsync("cluster-start 2");
            var releasedAt = ClusterAppProcess.Now;
            await monitor.CommandAsync("RELEASE");
            await producer.WaitForAsync(() => producer.Lines("STATE", releasedAt).Any(l => l.Fields[0] == queue && l.Fields[1] == "Normal"), StatementBound,
                "the producer hears Normal once the queue drained");
            var passed = await SendAsync(producer, 5);
            Assert.Equal("REJECTED:0 SENT:5", passed);

            var sentByProducer = producer.Lines("SENT").Select(l => Guid.Parse(l.Fields[0])).ToArray();
            var all = ids.Concat(sentByProducer).ToArray();
            await monitor.WaitForAsync(() => Consumed(monitor).Count >= all.Length, TimeSpan.FromSeconds(30), "every message sent to the queue consumed");
            output.WriteLine($"sent to the queue: {ids.Length} filling + {sentByProducer.Length} by the producer; refused by its gate (never sent): " +
                $"{producer.Lines("REJECTED").Count}; consumed {Consumed(monitor).Distinct().Count()} distinct of {Consumed(monitor).Count}");
            Assert.Equal(Consumed(monitor).Count, Consumed(monitor).Distinct().Count());
            await new MessageAccount()
                .Sent(all)
                .Place("consumed by the monitor's app (by id)", () => (IReadOnlyCollection<Guid>)Consumed(monitor), Expect.Ids(all))
                .Endpoint(queue, Expect.Empty, RabbitNode.AmqpOnly("cluster node 3", ports[2], ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword))
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await ServiceEnvironment.RunServicesScriptAsync("start");
            foreach (var app in apps)
                await app.DisposeAsync();
            if (testBus is not null)
            {
                await testBus.StopAsync(CancellationToken.None);
                testBus.Dispose();
            }
            await ClusterAppProcess.Management.DeleteAsync(queue, queue + "_error", queue + "_skipped");
        }
    }

    static TimeSpan? Slow(ClusterAppProcess producer, TimeSpan since) =>
        producer.Lines("STATE", since).FirstOrDefault(l => l.Fields[1] == "Slow") is { Fields: not null } line ? line.At : null;

    static List<Guid> Consumed(ClusterAppProcess app) => app.Lines("CONSUMED").Select(l => Guid.Parse(l.Fields[0])).ToList();

    /// <summary>Asks the producer for <paramref name="count"/> sends; "REJECTED:r SENT:s" of those.</summary>
    static async Task<string> SendAsync(ClusterAppProcess producer, int count)
    {
        var since = ClusterAppProcess.Now;
        await producer.CommandAsync($"SEND {count}");
        await producer.WaitForAsync(() => producer.Lines("SEND-DONE", since).Count > 0, StatementBound, "the producer's sends end");
        return $"REJECTED:{producer.Lines("REJECTED", since).Count} SENT:{producer.Lines("SENT", since).Count}";
    }

    static async Task<Dictionary<string, int>> NodesAsync(string[] names)
    {
        Dictionary<string, int> nodes = [];
        await Eventually.True(async () => (nodes = await ClusterAppProcess.Management.NodesOfConnectionsAsync(names)).Count == names.Length,
            TimeSpan.FromSeconds(20), "the management API lists the apps' connections", TimeSpan.FromMilliseconds(250));
        return nodes;
    }

    static async Task<IHost> StartTestBusAsync(int[] ports)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x => x.UsingRabbitMq((_, cfg) => cfg.Host(ServiceEnvironment.RabbitHost, (ushort)ports[2], "/", h =>
        {
            h.Username(ServiceEnvironment.RabbitUser);
            h.Password(ServiceEnvironment.RabbitPassword);
            h.UseCluster(c =>
            {
                foreach (var port in new[] { ports[2], ports[0], ports[1] })
                    c.Node($"{ServiceEnvironment.RabbitHost}:{port}");
            });
        })));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
