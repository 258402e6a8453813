using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>The cluster scenario's message.</summary>
    public record ClusterWork(int Number);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    using Messages;

    /// <summary>
    /// <c>cluster</c>: confirmed sends to a quorum queue on the 3-node RabbitMQ cluster (replicated on 3 nodes, every
    /// confirm waits for a majority) against the same on a single independent node (a quorum queue of one member),
    /// rounds alternated, each a fresh queue drained by a trivial consumer; the rate is from the first send to the last
    /// confirm. Then the failover run: event-forwarder sends (a send not confirmed in 2 s is resent under its id, up to 5
    /// times) from 8 lanes, each awaiting its send then pausing 20 ms, to a
    /// cluster quorum queue whose leader's node, the one the bus connects to first, is killed (kill -9) after 3 s and
    /// restarted once a send started after the kill is confirmed, or after 10 s down; <c>failover_s</c> is the time from
    /// the kill (the node's process gone) to the first confirm of a send started after it (<c>failover.during_outage</c>
    /// 1 when it came before the restart), and <c>lost</c> counts confirmed messages the consumer never received (by message id).
    /// Needs <c>build/services.sh start --cluster 3</c> (build/bench.sh starts it for RabbitMQ runs).
    /// </summary>
    public sealed class ClusterScenario : IBenchScenario
    {
        const int InFlight = 64;

        /// <summary>The longest the killed node stays down in the failover run.</summary>
        static readonly TimeSpan Outage = TimeSpan.FromSeconds(10);

        public string Name => "cluster";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.RabbitMq];

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var cluster = ServiceEnvironment.RabbitClusterAmqpPorts;
            var single = ServiceEnvironment.RabbitAmqpPorts[0];
            var count = context.Quick ? 2_000 : 6_000;
            var rounds = context.Quick ? 2 : 4;

            // Warm-up: both paths once (connections, JIT, queue declarations).
            await ThroughputAsync(context, [single], count / 4, cancellationToken);
            await ThroughputAsync(context, cluster, count / 4, cancellationToken);
            var singleRates = new List<double>();
            var clusterRates = new List<double>();
            for (var round = 1; round <= rounds; round++)
            {
                var first = round % 2 == 1;
                foreach (var onCluster in first ? new[] { false, true } : [true, false])
                {
                    var rate = await ThroughputAsync(context, onCluster ? cluster : [single], count, cancellationToken);
                    (onCluster ? clusterRates : singleRates).Add(rate);
                    context.Progress($"round {round}/{rounds} {(onCluster ? "3-node cluster" : "single node")}: {rate:N0} confirmed sends/s");
                }
            }

            var failover = await FailoverAsync(context, cluster, cancellationToken);
            context.Progress($"failover: leader node {failover.Node} killed; first confirm of a send started after the kill {failover.Seconds:N2} s later " +
                $"({(failover.DuringOutage ? "while the node was down" : "once the node was restarted")}; of any send {failover.AnySeconds:N2} s); " +
                $"sent {failover.Sent}, confirmed {failover.Confirmed}, send failures {failover.Failed}, consumed {failover.Consumed}, lost {failover.Lost}");

            var singleMedian = Median(singleRates);
            var clusterMedian = Median(clusterRates);
            return new BenchResult(Name, context.Transport)
                .Parameter("messages", count)
                .Parameter("rounds", rounds)
                .Parameter("in_flight", InFlight)
                .Parameter("cluster_nodes", cluster.Length)
                .Parameter("queue", "quorum")
                .Metric("msg_per_s.single_node", singleMedian)
                .Metric("msg_per_s.cluster", clusterMedian)
                .Metric("throughput_ratio_vs_single_node", clusterMedian / singleMedian)
                .Metric("failover_s", failover.Seconds)
                .Metric("failover.first_confirm_any_s", failover.AnySeconds)
                .Metric("failover.during_outage", failover.DuringOutage ? 1 : 0)
                .Metric("failover.sent", failover.Sent)
                .Metric("failover.confirmed", failover.Confirmed)
                .Metric("failover.send_failures", failover.Failed)
                .Metric("lost", failover.Lost);
        }

        static double Median(List<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
        }

        sealed class Received
        {
            public ConcurrentDictionary<Guid, int> Ids { get; } = new();
        }

        sealed class ReceivedConsumer(Received received) : IConsumer<ClusterWork>
        {
            public Task Consume(ConsumeContext<ClusterWork> context)
            {
                received.Ids.AddOrUpdate(context.MessageId ?? Guid.Empty, 1, (_, n) => n + 1);
                return Task.CompletedTask;
            }
        }

        /// <summary>A bus on <paramref name="ports"/> (a cluster when several) with a consumer on a fresh quorum queue.</summary>
        static (ServiceProvider Provider, string Queue, Received Received) Build(int[] ports, bool forwarding = false)
        {
            var queue = $"bench-cluster-{Guid.NewGuid():N}"[..26];
            var received = new Received();
            var provider = new ServiceCollection()
                .AddSingleton(received)
                .AddMassTransit(x =>
                {
                    if (forwarding)
                        x.AddEventForwarding(o =>
                        {
                            o.SendTimeout = TimeSpan.FromSeconds(2);
                            o.ResendLimit = 5;
                        });
                    x.AddConsumer<ReceivedConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 32;
                        e.PrefetchCount = 128;
                    });
                    x.AddConfigureEndpointsCallback((_, name, cfg) =>
                    {
                        if (name == queue && cfg is IRabbitMqReceiveEndpointConfigurator rabbit)
                            rabbit.SetQuorumQueue();
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(ServiceEnvironment.RabbitHost, (ushort)ports[0], "/", h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                            if (ports.Length > 1)
                                h.UseCluster(c =>
                                {
                                    foreach (var port in ports)
                                        c.Node($"{ServiceEnvironment.RabbitHost}:{port}");
                                });
                        });
                        if (forwarding)
                            cfg.UseEventForwarding(context, o => o.QuorumQueues = true);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            return (provider, queue, received);
        }

        static async Task<double> ThroughputAsync(BenchContext context, int[] ports, int count, CancellationToken cancellationToken)
        {
            var (provider, queue, received) = Build(ports);
            await using var owned = provider;
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                using var gate = new SemaphoreSlim(InFlight);
                var watch = Stopwatch.StartNew();
                var sends = new List<Task>(count);
                for (var i = 0; i < count; i++)
                {
                    await gate.WaitAsync(cancellationToken);
                    var number = i;
                    sends.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await endpoint.Send(new ClusterWork(number), cancellationToken);
                        }
                        finally
                        {
                            gate.Release();
                        }
                    }, cancellationToken));
                }
                await Task.WhenAll(sends);
                var rate = count / watch.Elapsed.TotalSeconds;
                await WaitUntil(() => received.Ids.Count >= count, TimeSpan.FromSeconds(60), $"all {count} consumed from {queue}");
                return rate;
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await DeleteQueueAsync(ports, queue);
            }
        }

        sealed record Failover(int Node, double Seconds, double AnySeconds, bool DuringOutage, int Sent, int Confirmed, int Failed, int Consumed, int Lost);

        static async Task<Failover> FailoverAsync(BenchContext context, int[] ports, CancellationToken cancellationToken)
        {
            var (provider, queue, received) = Build(ports, forwarding: true);
            await using var owned = provider;
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var forwarder = provider.GetRequiredService<MassTransit.Patterns.EventForwarding.IEventForwarder>();
            var address = new Uri($"exchange:{queue}");
            var node = 0;
            try
            {
                var confirmed = new ConcurrentDictionary<Guid, long>();
                var failed = 0;
                var sent = 0;
                long killedAt = 0;
                long firstAfter = 0;
                long firstAnyAfter = 0;
                using var stop = new CancellationTokenSource();
                // 8 producer lanes, each awaiting its confirmed send, then 20 ms: up to 400 sends a second. (Sends started on a
                // schedule without waiting, 400 a second, thousands pending on the lost connection: the first confirm of a send
                // started after the kill took 6 s and 27 s in two runs and did not come within 60-90 s in three.)
                var schedule = Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        var id = NewId.NextGuid();
                        Interlocked.Increment(ref sent);
                        await SendAsync(id, Stopwatch.GetTimestamp());
                        await Task.Delay(20);
                    }
                })));

                async Task SendAsync(Guid id, long started)
                {
                    try
                    {
                        // The event forwarder: a send not confirmed within 2 s is sent again under the same id (up to 5 times).
                        await forwarder.Send(address, new ClusterWork(0), id);
                        var at = Stopwatch.GetTimestamp();
                        confirmed[id] = at;
                        var kill = Interlocked.Read(ref killedAt);
                        if (kill != 0 && at > kill)
                            Interlocked.CompareExchange(ref firstAnyAfter, at, 0);
                        if (kill != 0 && started > kill)
                            Interlocked.CompareExchange(ref firstAfter, at, 0);
                    }
                    catch (Exception)
                    {
                        Interlocked.Increment(ref failed);
                    }
                }

                await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken);
                node = await LeaderAsync(queue);
                await ServiceEnvironment.RunServicesScriptAsync($"cluster-kill {node}", cancellationToken);
                // services.sh returns once the node's process is gone: from here on, nothing the node does can confirm.
                Interlocked.Exchange(ref killedAt, Stopwatch.GetTimestamp());
                // The node stays down for Outage at most, as long as a supervisor might take to restart it: on RabbitMQ 3.10 a
                // producer whose new channel first published while the queue's record still named the dead leader has every
                // send nacked until the node is back (docs/cluster.md), and no wait would end that sooner.
                var outage = Stopwatch.StartNew();
                while (Interlocked.Read(ref firstAfter) == 0 && outage.Elapsed < Outage)
                    await Task.Delay(50, cancellationToken);
                var duringOutage = Interlocked.Read(ref firstAfter) != 0;
                var restarted = false;
                if (!duringOutage)
                {
                    await ServiceEnvironment.RunServicesScriptAsync($"cluster-start {node}", cancellationToken);
                    restarted = true;
                    await WaitUntil(() => Interlocked.Read(ref firstAfter) != 0, TimeSpan.FromSeconds(90), "a send started after the kill is confirmed");
                }
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
                await stop.CancelAsync();
                await schedule;
                if (!restarted)
                    await ServiceEnvironment.RunServicesScriptAsync($"cluster-start {node}", cancellationToken);

                try
                {
                    await WaitUntil(() => confirmed.Keys.All(received.Ids.ContainsKey), TimeSpan.FromSeconds(60), "every confirmed message is consumed");
                }
                catch (TimeoutException)
                {
                    // Reported as lost below.
                }
                var seconds = (Interlocked.Read(ref firstAfter) - Interlocked.Read(ref killedAt)) / (double)Stopwatch.Frequency;
                var anySeconds = (Interlocked.Read(ref firstAnyAfter) - Interlocked.Read(ref killedAt)) / (double)Stopwatch.Frequency;
                return new Failover(node, seconds, anySeconds, duringOutage, sent, confirmed.Count, failed, received.Ids.Count,
                    confirmed.Keys.Count(id => !received.Ids.ContainsKey(id)));
            }
            finally
            {
                if (node != 0)
                    await ServiceEnvironment.RunServicesScriptAsync("start", CancellationToken.None);
                await bus.StopAsync(CancellationToken.None);
                await DeleteQueueAsync(ports, queue);
            }
        }

        static HttpClient Management(int port)
        {
            var client = new HttpClient { BaseAddress = new Uri($"http://{ServiceEnvironment.RabbitHost}:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
            return client;
        }

        /// <summary>The cluster node (1..N) leading the queue's Raft group.</summary>
        static async Task<int> LeaderAsync(string queue)
        {
            foreach (var port in ServiceEnvironment.RabbitClusterManagementPorts)
            {
                try
                {
                    using var client = Management(port);
                    var json = await System.Net.Http.Json.HttpClientJsonExtensions.GetFromJsonAsync<System.Text.Json.JsonElement>(client, $"api/queues/%2F/{queue}");
                    if (json.TryGetProperty("leader", out var leader) && leader.GetString() is { Length: > 0 } name)
                        return int.Parse(name.Split('@')[0][4..]);
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                    // That node's management API is down: ask the next.
                }
            }
            throw new InvalidOperationException($"no cluster node names the leader of {queue}");
        }

        static async Task DeleteQueueAsync(int[] ports, string queue)
        {
            var candidates = ports.Length > 1 ? ServiceEnvironment.RabbitClusterManagementPorts : [ServiceEnvironment.RabbitManagementPorts[0]];
            foreach (var mgmt in candidates)
            {
                try
                {
                    using var client = Management(mgmt);
                    foreach (var name in new[] { queue, queue + "_error", queue + "_skipped" })
                    {
                        await client.DeleteAsync($"api/queues/%2F/{name}");
                        await client.DeleteAsync($"api/exchanges/%2F/{name}");
                    }
                    return;
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                    // That node's management API is down: the next one deletes for the cluster.
                }
            }
        }

        static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
        {
            var watch = Stopwatch.StartNew();
            while (!condition())
            {
                if (watch.Elapsed > timeout)
                    throw new TimeoutException($"{what}: not within {timeout}");
                await Task.Delay(50);
            }
        }
    }
}
