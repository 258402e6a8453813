using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.RabbitMQ.Multibroker;
using MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>The multibroker scenario's message: a number and a key.</summary>
    public record MultibrokerWork(int Number, string Key);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    using Messages;

    /// <summary>
    /// <c>multibroker</c>: the same load (confirmed sends, a trivial consumer) through a multibroker of 1,
    /// 2 and 3 brokers, rounds alternated, median rate of each (from the first send to the last consume).
    /// On RabbitMQ the brokers are the nodes of build/services.sh (a queue of the run's own, deleted
    /// after); in memory, separate in-memory buses. Then the kill run: two of those brokers and a
    /// throwaway node of this run (never a shared node) that is killed (kill -9) a third of the way
    /// through and restarted; <c>lost_on_broker_kill</c> counts confirmed messages never consumed.
    /// In memory the kill is the simulated outage (sends fail, the broker leaves the rotation).
    /// Then the hung run: the same three brokers, round-robin at 200 sends a second, the throwaway node
    /// frozen (kill -STOP, TCP open, nothing answers) for 20 s and thawed; in memory the simulated hang.
    /// <c>hung.send_p99_ms</c> is the p99 latency of the sends started during the freeze,
    /// <c>hung.readmitted_while_hung</c> the times the frozen broker rejoined the rotation before the thaw,
    /// <c>hung.detect_s</c> how long after the freeze it left the rotation.
    /// </summary>
    public sealed class MultibrokerScenario : IBenchScenario
    {
        const int Concurrency = 16;
        const int InFlight = 256;

        public string Name => "multibroker";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.RabbitMq, BenchContext.InMemory, "multibroker"];

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var rabbit = context.Transport != BenchContext.InMemory;
            if (rabbit && ServiceEnvironment.RabbitAmqpPorts.Length < 3)
                throw new InvalidOperationException("multibroker needs three RabbitMQ nodes: build/services.sh start --rabbit-nodes 3");
            var count = rabbit ? (context.Quick ? 3_000 : 8_000) : (context.Quick ? 10_000 : 30_000);
            var rounds = context.Quick ? 1 : 3;

            var rates = new Dictionary<int, List<double>> { [1] = [], [2] = [], [3] = [] };
            var machineBusy = new Dictionary<int, List<double>> { [1] = [], [2] = [], [3] = [] };
            var clientBusy = new Dictionary<int, List<double>> { [1] = [], [2] = [], [3] = [] };
            var deviations = new List<double>();
            var keyDeviations = new List<double>();
            await ThroughputRun(context, rabbit, 1, Math.Max(500, count / 5), MultibrokerStrategy.RoundRobin, cancellationToken); // warm-up
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var brokers in new[] { 1, 2, 3 })
                {
                    var run = await ThroughputRun(context, rabbit, brokers, count, MultibrokerStrategy.RoundRobin, cancellationToken);
                    rates[brokers].Add(run.Rate);
                    machineBusy[brokers].Add(run.MachineBusyPct);
                    clientBusy[brokers].Add(run.ClientBusyPct);
                    if (brokers == 3)
                        deviations.Add(run.MaxDeviationPct);
                    context.Progress($"round {round}/{rounds}, {brokers} broker(s): {run.Rate:N0} msg/s, spread {string.Join("/", run.PerBroker)} (max deviation {run.MaxDeviationPct:0.0}%), " +
                        $"machine CPU busy {run.MachineBusyPct:0}%, this process {run.ClientBusyPct:0}% of {Environment.ProcessorCount} cores");
                }
            }
            var keyed = await ThroughputRun(context, rabbit, 3, count, MultibrokerStrategy.KeyHash, cancellationToken);
            keyDeviations.Add(keyed.MaxDeviationPct);
            context.Progress($"key hash, 3 brokers, {count} keys: {keyed.Rate:N0} msg/s, spread {string.Join("/", keyed.PerBroker)} (max deviation {keyed.MaxDeviationPct:0.0}%)");

            var kill = await KillRun(context, rabbit, rabbit ? (context.Quick ? 2_000 : 4_000) : (context.Quick ? 4_000 : 10_000), cancellationToken);
            context.Progress($"kill: confirmed {kill.Confirmed}, lost {kill.Lost}, consumed twice {kill.ConsumedTwice}, suppressed copies {kill.Suppressed}, " +
                $"failed attempts {kill.FailedAttempts}, sends failed {kill.SendsFailed}, rejoined after {kill.RejoinSeconds:0.0}s");

            var hung = await HungRun(context, rabbit, cancellationToken);
            context.Progress($"hung: {hung.DuringFreeze} sends during the {HungFreeze.TotalSeconds:0} s freeze, p50 {hung.P50Ms:0} ms, p99 {hung.P99Ms:0} ms, " +
                $"max {hung.MaxMs:0} ms, {hung.Over1s} over 1 s; detected after {hung.DetectSeconds:0.00} s, readmitted while hung {hung.ReadmittedWhileHung}, " +
                $"rejoined {hung.RejoinSeconds:0.0} s after the thaw; confirmed {hung.Confirmed}, lost {hung.Lost}, consumed twice {hung.ConsumedTwice}, " +
                $"copies suppressed {hung.Suppressed}, hedges {hung.Hedges}, sends failed {hung.SendsFailed}");

            var r1 = Throughput.Median(rates[1]);
            var r2 = Throughput.Median(rates[2]);
            var r3 = Throughput.Median(rates[3]);
            return new BenchResult(Name, context.Transport)
                .Parameter("messages", count)
                .Parameter("rounds", rounds)
                .Parameter("consumer_concurrency_per_broker", Concurrency)
                .Parameter("sends_in_flight", InFlight)
                .Parameter("strategy", "round-robin")
                .Parameter("brokers", rabbit ? "RabbitMQ nodes of build/services.sh (kill: 2 of them + a throwaway node)" : "in-memory buses")
                .Metric("throughput_ratio_2_vs_1", r2 / r1)
                .Metric("throughput_ratio_3_vs_1", r3 / r1)
                .Metric("lost_on_broker_kill", kill.Lost)
                .Metric("spread_max_deviation_pct", deviations.Max())
                .Metric("spread_max_deviation_pct.key_hash", keyDeviations.Max())
                .Metric("msg_per_s.1_broker", r1)
                .Metric("msg_per_s.2_brokers", r2)
                .Metric("msg_per_s.3_brokers", r3)
                .Metric("machine_cpu_busy_pct.1_broker", Throughput.Median(machineBusy[1]))
                .Metric("machine_cpu_busy_pct.2_brokers", Throughput.Median(machineBusy[2]))
                .Metric("machine_cpu_busy_pct.3_brokers", Throughput.Median(machineBusy[3]))
                .Metric("client_cpu_pct.1_broker", Throughput.Median(clientBusy[1]))
                .Metric("client_cpu_pct.3_brokers", Throughput.Median(clientBusy[3]))
                .Metric("kill.confirmed", kill.Confirmed)
                .Metric("kill.consumed_twice", kill.ConsumedTwice)
                .Metric("kill.duplicates_suppressed", kill.Suppressed)
                .Metric("kill.failed_attempts", kill.FailedAttempts)
                .Metric("kill.sends_failed", kill.SendsFailed)
                .Metric("kill.rejoin_s", kill.RejoinSeconds)
                .Parameter("hung.freeze_s", HungFreeze.TotalSeconds)
                .Parameter("hung.sends_per_s", 1000 / HungInterval.TotalMilliseconds)
                .Metric("hung.send_p99_ms", hung.P99Ms)
                .Metric("hung.send_p50_ms", hung.P50Ms)
                .Metric("hung.send_max_ms", hung.MaxMs)
                .Metric("hung.sends_over_1s", hung.Over1s)
                .Metric("hung.sends_during_freeze", hung.DuringFreeze)
                .Metric("hung.lost", hung.Lost)
                .Metric("hung.consumed_twice", hung.ConsumedTwice)
                .Metric("hung.sends_failed", hung.SendsFailed)
                .Metric("hung.readmitted_while_hung", hung.ReadmittedWhileHung)
                .Metric("hung.detect_s", hung.DetectSeconds)
                .Metric("hung.rejoin_after_thaw_s", hung.RejoinSeconds)
                .Metric("hung.duplicates_suppressed", hung.Suppressed)
                .Metric("hung.hedges", hung.Hedges);
        }

        sealed record RunResult(double Rate, long[] PerBroker, double MaxDeviationPct, double MachineBusyPct, double ClientBusyPct);

        /// <summary>Busy and total jiffies of the whole machine (/proc/stat), to show whether a run was CPU-bound.</summary>
        static (long Busy, long Total) MachineCpu()
        {
            try
            {
                var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
                var idle = fields[3] + (fields.Length > 4 ? fields[4] : 0);
                var total = fields.Take(8).Sum();
                return (total - idle, total);
            }
            catch (Exception)
            {
                return (0, 0);
            }
        }

        sealed record KillResult(int Confirmed, int Lost, int ConsumedTwice, long Suppressed, long FailedAttempts, int SendsFailed, double RejoinSeconds);

        /// <summary>Counts consumer runs per message id and per broker.</summary>
        public sealed class Tally
        {
            public readonly ConcurrentDictionary<Guid, int> Runs = new();
            int _total;
            TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
            int _target = int.MaxValue;

            public int Total => Volatile.Read(ref _total);

            public Task WhenTotal(int target)
            {
                _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _target, target);
                if (Total >= target)
                    _reached.TrySetResult();
                return _reached.Task;
            }

            public void Record(Guid id)
            {
                Runs.AddOrUpdate(id, 1, (_, n) => n + 1);
                if (Interlocked.Increment(ref _total) >= Volatile.Read(ref _target))
                    _reached.TrySetResult();
            }
        }

        public sealed class WorkConsumer(Tally tally) : IConsumer<MultibrokerWork>
        {
            public Task Consume(ConsumeContext<MultibrokerWork> context)
            {
                tally.Record(context.MessageId!.Value);
                return Task.CompletedTask;
            }
        }

        sealed record BrokerSpec(string Name, int Port, string User, string Password);

        static BrokerSpec Shared(int i) => new($"node{i}", ServiceEnvironment.RabbitAmqpPorts[i], ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword);

        static async Task<(IHost Host, string Queue, InMemoryMultibrokerTransport[] InMemory)> StartHost(bool rabbit, IReadOnlyList<BrokerSpec> brokers,
            MultibrokerStrategy strategy, Tally tally, Action<MultibrokerOptions>? options, CancellationToken cancellationToken)
        {
            var queue = $"bench-mb-{Guid.NewGuid():N}"[..24];
            var inMemory = brokers.Select(_ => new InMemoryMultibrokerTransport()).ToArray();
            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Services.AddSingleton(tally);
            builder.Services.AddMultibroker(x =>
            {
                x.Register(r => r.AddConsumer<WorkConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = Concurrency;
                    e.PrefetchCount = Concurrency * 2;
                }));
                for (var i = 0; i < brokers.Count; i++)
                {
                    var b = brokers[i];
                    if (rabbit)
                        x.RabbitMqBroker(b.Name, new Uri($"rabbitmq://127.0.0.1:{b.Port}/"), h =>
                        {
                            h.Username(b.User);
                            h.Password(b.Password);
                        });
                    else
                        x.Broker(b.Name, inMemory[i]);
                }
                x.Strategy(strategy).Key<MultibrokerWork>(m => m.Key);
                x.Options.MinimumBrokersAtStart = brokers.Count;
                options?.Invoke(x.Options);
            });
            var host = builder.Build();
            await host.StartAsync(cancellationToken);
            return (host, queue, inMemory);
        }

        static async Task StopHost(IHost host, bool rabbit, IReadOnlyList<BrokerSpec> brokers, string queue)
        {
            await host.StopAsync();
            host.Dispose();
            if (!rabbit)
                return;
            foreach (var b in brokers)
            {
                try
                {
                    var factory = new ConnectionFactory { HostName = "127.0.0.1", Port = b.Port, UserName = b.User, Password = b.Password };
                    await using var connection = await factory.CreateConnectionAsync();
                    await using var channel = await connection.CreateChannelAsync();
                    await channel.QueueDeleteAsync(queue);
                    await channel.ExchangeDeleteAsync(queue);
                    await channel.ExchangeDeleteAsync($"{typeof(MultibrokerWork).Namespace}:{nameof(MultibrokerWork)}");
                }
                catch (Exception)
                {
                    // a killed throwaway node goes with its data folder
                }
            }
        }

        static async Task<RunResult> ThroughputRun(BenchContext context, bool rabbit, int brokerCount, int count, MultibrokerStrategy strategy,
            CancellationToken cancellationToken)
        {
            var brokers = Enumerable.Range(0, brokerCount).Select(i => rabbit ? Shared(i) : new BrokerSpec($"mem{i}", 0, "", "")).ToArray();
            var tally = new Tally();
            var (host, queue, _) = await StartHost(rabbit, brokers, strategy, tally, null, cancellationToken);
            try
            {
                var multibroker = host.Services.GetRequiredService<IMultibroker>();
                var endpoint = await multibroker.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var done = tally.WhenTotal(count);
                var cpuBefore = MachineCpu();
                var clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                var inFlight = new List<Task>(InFlight);
                for (var i = 0; i < count; i++)
                {
                    inFlight.Add(endpoint.Send(new MultibrokerWork(i, "key-" + i), cancellationToken));
                    if (inFlight.Count == InFlight)
                    {
                        await Task.WhenAll(inFlight);
                        inFlight.Clear();
                    }
                }
                await Task.WhenAll(inFlight);
                await done.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
                var rate = count / watch.Elapsed.TotalSeconds;
                var cpuAfter = MachineCpu();
                var machineBusy = cpuAfter.Total > cpuBefore.Total ? 100.0 * (cpuAfter.Busy - cpuBefore.Busy) / (cpuAfter.Total - cpuBefore.Total) : double.NaN;
                var clientBusy = 100.0 * (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalSeconds / watch.Elapsed.TotalSeconds / Environment.ProcessorCount;
                var perBroker = multibroker.Brokers.Select(b => b.Received).ToArray();
                var fair = (double)count / brokerCount;
                var deviation = perBroker.Max(n => Math.Abs(n - fair)) / fair * 100;
                return new RunResult(rate, perBroker, deviation, machineBusy, clientBusy);
            }
            finally
            {
                await StopHost(host, rabbit, brokers, queue);
            }
        }

        static readonly TimeSpan HungFreeze = TimeSpan.FromSeconds(20);
        static readonly TimeSpan HungInterval = TimeSpan.FromMilliseconds(5);
        const string HungVictim = "hung";

        sealed record HungResult(int DuringFreeze, double P50Ms, double P99Ms, double MaxMs, int Over1s, int Confirmed, int Lost, int ConsumedTwice,
            int SendsFailed, int ReadmittedWhileHung, double DetectSeconds, double RejoinSeconds, long Suppressed, long Hedges);

        /// <summary>
        /// Round-robin over two shared brokers and a throwaway node at 200 sends a second (each send timed,
        /// not waited for by the next); the throwaway frozen for 20 s, then thawed; the run goes on until
        /// it is back in rotation and has confirmed 200 more. When it left and rejoined the rotation comes
        /// from the multibroker's own counters.
        /// </summary>
        static async Task<HungResult> HungRun(BenchContext context, bool rabbit, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            var left = new ConcurrentQueue<TimeSpan>();
            var rejoined = new ConcurrentQueue<TimeSpan>();
            long hedges = 0;
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name is "masstransit.patterns.multibroker.ejections"
                        or "masstransit.patterns.multibroker.rejoined" or "masstransit.patterns.multibroker.hedges")
                    l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag is { Key: "masstransit.patterns.multibroker.broker", Value: HungVictim })
                    {
                        if (instrument.Name.EndsWith("hedges", StringComparison.Ordinal))
                            Interlocked.Add(ref hedges, value);
                        else
                            (instrument.Name.EndsWith("rejoined", StringComparison.Ordinal) ? rejoined : left).Enqueue(clock.Elapsed);
                    }
            });
            listener.Start();

            ThrowawayRabbitNode? node = null;
            BrokerSpec[] brokers;
            if (rabbit)
            {
                context.Progress("hung run: starting a throwaway RabbitMQ node");
                node = await ThrowawayRabbitNode.StartAsync();
                brokers = [Shared(0), Shared(1), new BrokerSpec(HungVictim, node.AmqpPort, node.UserName, node.Password)];
            }
            else
                brokers = [new("mem0", 0, "", ""), new("mem1", 0, "", ""), new(HungVictim, 0, "", "")];

            var tally = new Tally();
            var (host, queue, inMemory) = await StartHost(rabbit, brokers, MultibrokerStrategy.RoundRobin, tally, null, cancellationToken);
            try
            {
                var multibroker = host.Services.GetRequiredService<IMultibroker>();
                var victim = multibroker.Brokers[2];
                var endpoint = await multibroker.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var confirmed = new ConcurrentDictionary<Guid, byte>();
                var sends = new ConcurrentQueue<(TimeSpan Start, TimeSpan Latency)>();
                var sendsFailed = 0;
                var inFlight = new ConcurrentDictionary<Task, byte>();
                using var stop = new CancellationTokenSource();
                var producer = Task.Run(async () =>
                {
                    using var timer = new PeriodicTimer(HungInterval);
                    var n = 0;
                    while (!stop.IsCancellationRequested && await timer.WaitForNextTickAsync(CancellationToken.None))
                    {
                        var number = n++;
                        var id = NewId.NextGuid();
                        var start = clock.Elapsed;
                        var send = Task.Run(async () =>
                        {
                            try
                            {
                                await endpoint.Send(new MultibrokerWork(number, "h" + number), Pipe.Execute<SendContext<MultibrokerWork>>(c => c.MessageId = id), CancellationToken.None);
                                confirmed[id] = 0;
                                sends.Enqueue((start, clock.Elapsed - start));
                            }
                            catch (MultibrokerSendException)
                            {
                                Interlocked.Increment(ref sendsFailed);
                            }
                        }, CancellationToken.None);
                        inFlight[send] = 0;
                        _ = send.ContinueWith(t => inFlight.TryRemove(t, out _), TaskScheduler.Default);
                    }
                }, CancellationToken.None);

                TimeSpan frozenAt, thawedAt, backAt;
                try
                {
                    await Eventually.True(() => victim.Sent >= 500, TimeSpan.FromMinutes(1), "the victim confirms its share before the freeze");
                    if (node is not null)
                    {
                        await using var frozen = FrozenNode.FreezeListener(node.AmqpPort, "hung run's throwaway node", maxFreeze: HungFreeze + TimeSpan.FromSeconds(30));
                        frozenAt = clock.Elapsed;
                        context.Progress($"hung run: froze {victim.Name} after {victim.Sent} confirmed by it");
                        await Task.Delay(HungFreeze, cancellationToken);
                        thawedAt = clock.Elapsed;
                    }
                    else
                    {
                        inMemory[2].Outage.Hang();
                        frozenAt = clock.Elapsed;
                        try
                        {
                            await Task.Delay(HungFreeze, cancellationToken);
                        }
                        finally
                        {
                            inMemory[2].Outage.Up();
                        }
                        thawedAt = clock.Elapsed;
                    }
                    context.Progress($"hung run: thawed {victim.Name} ({victim.State}: {victim.LastFailure})");
                    await Eventually.True(() => victim.State == BrokerState.Healthy, TimeSpan.FromMinutes(2), "the thawed broker rejoins", TimeSpan.FromMilliseconds(20));
                    backAt = clock.Elapsed;
                    var sentBefore = victim.Sent;
                    await Eventually.True(() => victim.Sent - sentBefore >= 200, TimeSpan.FromMinutes(1), "the rejoined broker confirms sends again");
                }
                finally
                {
                    await stop.CancelAsync();
                    await producer;
                    await Task.WhenAll(inFlight.Keys);
                }

                await Eventually.True(() => confirmed.Keys.All(tally.Runs.ContainsKey), TimeSpan.FromSeconds(90),
                    "every confirmed message consumed (or the deadline: the rest counts as lost)", TimeSpan.FromMilliseconds(200))
                    .ContinueWith(_ => { }, TaskScheduler.Default);
                var during = sends.Where(s => s.Start >= frozenAt && s.Start < thawedAt).Select(s => s.Latency.TotalMilliseconds).Order().ToArray();
                double Percentile(double p) => during.Length == 0 ? double.NaN : during[Math.Max(0, (int)Math.Ceiling(during.Length * p) - 1)];
                var detected = left.Where(t => t >= frozenAt).DefaultIfEmpty(TimeSpan.MaxValue).Min();
                return new HungResult(during.Length, Percentile(0.5), Percentile(0.99), during.LastOrDefault(), during.Count(l => l > 1000), confirmed.Count,
                    confirmed.Keys.Count(id => !tally.Runs.ContainsKey(id)), tally.Runs.Values.Sum(n => n - 1), sendsFailed,
                    rejoined.Count(t => t > frozenAt && t < thawedAt), detected == TimeSpan.MaxValue ? double.NaN : (detected - frozenAt).TotalSeconds,
                    (backAt - thawedAt).TotalSeconds, multibroker.DuplicatesSuppressed, Interlocked.Read(ref hedges));
            }
            finally
            {
                await StopHost(host, rabbit, brokers, queue);
                if (node is not null)
                    await node.DisposeAsync();
            }
        }

        static async Task<KillResult> KillRun(BenchContext context, bool rabbit, int count, CancellationToken cancellationToken)
        {
            ThrowawayRabbitNode? node = null;
            BrokerSpec[] brokers;
            if (rabbit)
            {
                context.Progress("kill run: starting a throwaway RabbitMQ node");
                node = await ThrowawayRabbitNode.StartAsync();
                brokers = [Shared(0), Shared(1), new BrokerSpec("throwaway", node.AmqpPort, node.UserName, node.Password)];
            }
            else
                brokers = [new("mem0", 0, "", ""), new("mem1", 0, "", ""), new("victim", 0, "", "")];

            var tally = new Tally();
            var (host, queue, inMemory) = await StartHost(rabbit, brokers, MultibrokerStrategy.RoundRobin, tally, o =>
            {
                o.SendTimeout = TimeSpan.FromSeconds(2);
                o.EjectionTime = TimeSpan.FromMilliseconds(500);
                o.HealthCheckInterval = TimeSpan.FromMilliseconds(200);
                o.RestartInterval = TimeSpan.FromSeconds(1);
            }, cancellationToken);
            try
            {
                var multibroker = host.Services.GetRequiredService<IMultibroker>();
                var victim = multibroker.Brokers[2];
                var endpoint = await multibroker.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var confirmed = new ConcurrentDictionary<Guid, byte>();
                var sendsFailed = 0;
                var next = -1;
                var killAt = count / 3;
                var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var killDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

                async Task Produce()
                {
                    while (true)
                    {
                        var n = Interlocked.Increment(ref next);
                        if (n >= count)
                            return;
                        if (n == killAt)
                            killed.TrySetResult();
                        if (n >= killAt)
                            await killDone.Task; // sends before the kill may still be in flight; later ones start after it
                        var id = NewId.NextGuid();
                        try
                        {
                            await endpoint.Send(new MultibrokerWork(n, "k" + n), Pipe.Execute<SendContext<MultibrokerWork>>(c => c.MessageId = id), cancellationToken);
                            confirmed[id] = 0;
                        }
                        catch (MultibrokerSendException)
                        {
                            Interlocked.Increment(ref sendsFailed);
                        }
                    }
                }

                var producers = Enumerable.Range(0, 32).Select(_ => Task.Run(Produce, cancellationToken)).ToArray();
                await killed.Task.WaitAsync(TimeSpan.FromMinutes(1), cancellationToken);
                if (node is not null)
                    await node.Kill();
                else
                    inMemory[2].Outage.Down();
                killDone.TrySetResult();
                context.Progress($"kill run: broker {victim.Name} killed after {victim.Sent} confirmed by it");
                await Task.WhenAll(producers);

                var restart = Stopwatch.StartNew();
                if (node is not null)
                    await node.RestartAsync();
                else
                    inMemory[2].Outage.Up();
                await Eventually.True(() => victim.State == BrokerState.Healthy, TimeSpan.FromSeconds(60), "the restarted broker rejoins", TimeSpan.FromMilliseconds(100));
                var rejoin = restart.Elapsed.TotalSeconds;

                await Eventually.True(() => confirmed.Keys.All(tally.Runs.ContainsKey), TimeSpan.FromSeconds(60),
                    "every confirmed message consumed (or the deadline: the rest counts as lost)", TimeSpan.FromMilliseconds(200))
                    .ContinueWith(_ => { }, TaskScheduler.Default);
                var lost = confirmed.Keys.Count(id => !tally.Runs.ContainsKey(id));
                var twice = tally.Runs.Values.Sum(n => n - 1);
                return new KillResult(confirmed.Count, lost, twice, multibroker.DuplicatesSuppressed, multibroker.Brokers.Sum(b => b.SendFailures), sendsFailed, rejoin);
            }
            finally
            {
                await StopHost(host, rabbit, brokers, queue);
                if (node is not null)
                    await node.DisposeAsync();
            }
        }
    }
}
