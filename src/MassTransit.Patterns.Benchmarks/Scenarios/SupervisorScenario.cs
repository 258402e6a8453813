using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Benchmarks.Messages;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>A job of the supervisor scenario: part of the steady trickle or of the burst.</summary>
    public record SupervisorJob(int Number, bool Burst);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    /// <summary>
    /// <c>supervisor</c>: one traffic pattern, a steady trickle with a burst in the middle, played
    /// against three endpoints: supervised (min..max consumers), fixed at max, fixed at min. Every
    /// job costs the same simulated I/O. Drain time is from the first burst send to the last burst
    /// job consumed; consumer-seconds is the integral of the concurrency limit over the same window
    /// for every variant (trickle before, burst, trickle after), i.e. what the consumers cost.
    /// </summary>
    public sealed class SupervisorScenario : IBenchScenario
    {
        const int Min = 2, Max = 32, PerConsumer = 10;

        public string Name => "supervisor";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

        sealed record Profile(int Burst, double TrickleRate, TimeSpan BeforeBurst, TimeSpan Window, TimeSpan Work, TimeSpan Poll, TimeSpan Cooldown);

        enum Variant
        {
            Supervised,
            FixedMax,
            FixedMin
        }

        sealed record Point(double Seconds, long Backlog, int Limit, int InConsumer);

        sealed record Run(Variant Variant, double DrainSeconds, double ConsumerSeconds, double DrainConsumerSeconds, double BusyConsumerSeconds, int Peak,
            double? ReturnedToMinSeconds, long Sent, long Lost, IReadOnlyList<Point> Points);

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var rabbit = context.Transport == BenchContext.RabbitMq;
            var profile = context.Quick
                ? new Profile(Burst: 2_000, TrickleRate: 20, BeforeBurst: TimeSpan.FromSeconds(2), Window: TimeSpan.FromSeconds(9), Work: TimeSpan.FromMilliseconds(20),
                    Poll: TimeSpan.FromMilliseconds(rabbit ? 200 : 100), Cooldown: TimeSpan.FromSeconds(1))
                : new Profile(Burst: 4_000, TrickleRate: 20, BeforeBurst: TimeSpan.FromSeconds(5), Window: TimeSpan.FromSeconds(20), Work: TimeSpan.FromMilliseconds(20),
                    Poll: TimeSpan.FromMilliseconds(rabbit ? 200 : 100), Cooldown: TimeSpan.FromSeconds(2));
            var rounds = context.Quick ? 1 : 2;

            var supervised = new List<Run>();
            var fixedMax = new List<Run>();
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var variant in new[] { Variant.Supervised, Variant.FixedMax })
                {
                    var run = await RunVariantAsync(context, variant, profile, cancellationToken);
                    (variant == Variant.Supervised ? supervised : fixedMax).Add(run);
                    context.Progress($"round {round}/{rounds} {variant}: drained the burst in {run.DrainSeconds:0.00}s, {run.ConsumerSeconds:0} consumer-s, peak {run.Peak}, lost {run.Lost}");
                }
            }
            var fixedMin = await RunVariantAsync(context, Variant.FixedMin, profile, cancellationToken);
            context.Progress($"{Variant.FixedMin}: drained the burst in {fixedMin.DrainSeconds:0.00}s");

            var sup = Median(supervised, r => r.DrainSeconds);
            var max = Median(fixedMax, r => r.DrainSeconds);
            var plotted = supervised.First(r => r.DrainSeconds == sup.DrainSeconds);
            var result = new BenchResult(Name, context.Transport)
                .Parameter("min_consumers", Min)
                .Parameter("max_consumers", Max)
                .Parameter("messages_per_consumer", PerConsumer)
                .Parameter("burst", profile.Burst)
                .Parameter("trickle_per_s", profile.TrickleRate)
                .Parameter("burst_at_s", profile.BeforeBurst.TotalSeconds)
                .Parameter("window_s", profile.Window.TotalSeconds)
                .Parameter("work_ms", profile.Work.TotalMilliseconds)
                .Parameter("poll_ms", profile.Poll.TotalMilliseconds)
                .Parameter("cooldown_s", profile.Cooldown.TotalSeconds)
                .Parameter("depth_measure", "ready")
                .Parameter("rounds", rounds)
                .Metric("drain_time_ratio_vs_fixed_max", sup.DrainSeconds / max.DrainSeconds)
                .Metric("consumer_seconds_ratio_vs_fixed_max", Median(supervised, r => r.ConsumerSeconds).ConsumerSeconds / Median(fixedMax, r => r.ConsumerSeconds).ConsumerSeconds)
                .Metric("drain_time_ratio_vs_fixed_min", sup.DrainSeconds / fixedMin.DrainSeconds)
                .Metric("peak_concurrency", supervised.Max(r => r.Peak))
                .Metric("max_concurrency_setting", Max)
                .Metric("returned_to_min_s", supervised.Max(r => r.ReturnedToMinSeconds ?? double.NaN))
                .Metric("lost", supervised.Concat(fixedMax).Append(fixedMin).Sum(r => r.Lost))
                .Metric("drain_s.supervised", sup.DrainSeconds)
                .Metric("drain_s.fixed_max", max.DrainSeconds)
                .Metric("drain_s.fixed_min", fixedMin.DrainSeconds)
                .Metric("consumer_seconds.supervised", Median(supervised, r => r.ConsumerSeconds).ConsumerSeconds)
                .Metric("consumer_seconds.fixed_max", Median(fixedMax, r => r.ConsumerSeconds).ConsumerSeconds)
                .Metric("drain_consumer_seconds_ratio_vs_fixed_max",
                    Median(supervised, r => r.DrainConsumerSeconds).DrainConsumerSeconds / Median(fixedMax, r => r.DrainConsumerSeconds).DrainConsumerSeconds)
                .Metric("busy_consumer_seconds_ratio_vs_fixed_max",
                    Median(supervised, r => r.BusyConsumerSeconds).BusyConsumerSeconds / Median(fixedMax, r => r.BusyConsumerSeconds).BusyConsumerSeconds);

            Directory.CreateDirectory(context.OutputFolder);
            var png = Path.Combine(context.OutputFolder, $"{Name}.{context.Transport}.png");
            Plot(png, plotted, fixedMax.First(r => r.DrainSeconds == max.DrainSeconds), profile);
            context.Progress($"plot: {png}");
            return result;
        }

        static Run Median(List<Run> runs, Func<Run, double> by) => runs.OrderBy(by).ElementAt((runs.Count - 1) / 2);

        static async Task<Run> RunVariantAsync(BenchContext context, Variant variant, Profile profile, CancellationToken cancellationToken)
        {
            var queue = $"bench-sup-{Guid.NewGuid():N}"[..24];
            var state = new JobState(profile.Burst, profile.Work);
            var concurrency = variant switch
            {
                Variant.FixedMax => Max,
                Variant.FixedMin => Min,
                _ => (int?)null
            };
            var services = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(state)
                .AddConsumerSupervisorRegistry();
            if (context.Transport == BenchContext.RabbitMq)
                services.AddRabbitMqQueueDepthProbe(o =>
                {
                    o.HostName = ServiceEnvironment.RabbitHost;
                    o.Port = ServiceEnvironment.RabbitAmqpPort;
                    o.UserName = ServiceEnvironment.RabbitUser;
                    o.Password = ServiceEnvironment.RabbitPassword;
                });
            else
                services.AddInMemoryQueueDepthProbe();
            services.AddMassTransit(x =>
            {
                x.AddConsumer<JobConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    if (concurrency is { } fixedLimit)
                    {
                        e.ConcurrentMessageLimit = fixedLimit;
                        e.PrefetchCount = fixedLimit;
                    }
                });
                if (concurrency is null)
                    x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                    {
                        if (name == queue)
                            cfg.UseSupervisor(ctx, o =>
                            {
                                o.MinConsumers = Min;
                                o.MaxConsumers = Max;
                                o.MessagesPerConsumer = PerConsumer;
                                o.PollInterval = profile.Poll;
                                o.ScaleDownCooldown = profile.Cooldown;
                            });
                    });
                context.UseTransport(x);
            });

            await using var provider = services.BuildServiceProvider();
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var supervisor = concurrency is null ? provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue) : null;
            var limitChanges = new ConcurrentQueue<(double Seconds, int Limit)>();
            var points = new List<Point>();
            var watch = new Stopwatch();
            var sent = 0L;
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var number = 0;
                if (supervisor is not null)
                    supervisor.Ticked += t =>
                    {
                        if (t.Limit != t.PreviousLimit)
                            limitChanges.Enqueue((watch.Elapsed.TotalSeconds, t.Limit));
                    };

                watch.Start();
                var consumerSecondsAtStart = supervisor?.ConsumerSeconds ?? 0;
                using var stopTrickle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var trickle = Task.Run(async () =>
                {
                    var interval = TimeSpan.FromSeconds(1 / profile.TrickleRate);
                    var next = TimeSpan.Zero;
                    while (!stopTrickle.IsCancellationRequested && watch.Elapsed < profile.Window)
                    {
                        next += interval;
                        var delay = next - watch.Elapsed;
                        if (delay > TimeSpan.Zero)
                            await Task.Delay(delay, stopTrickle.Token).ConfigureAwait(false);
                        await endpoint.Send(new SupervisorJob(Interlocked.Increment(ref number), false), stopTrickle.Token).ConfigureAwait(false);
                        Interlocked.Increment(ref sent);
                    }
                }, CancellationToken.None);

                var sampler = Task.Run(async () =>
                {
                    double lastSeconds = 0;
                    var busy = 0.0;
                    while (!stopTrickle.IsCancellationRequested)
                    {
                        var seconds = watch.Elapsed.TotalSeconds;
                        var inConsumer = state.InConsumer;
                        if (seconds <= profile.Window.TotalSeconds)
                            busy += inConsumer * (seconds - lastSeconds);
                        lastSeconds = seconds;
                        lock (points)
                            points.Add(new Point(seconds, Math.Max(0, Interlocked.Read(ref sent) - state.Consumed - inConsumer), supervisor?.Limit ?? concurrency!.Value, inConsumer));
                        state.BusyConsumerSeconds = busy;
                        try
                        {
                            await Task.Delay(50, stopTrickle.Token).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                            return;
                        }
                    }
                }, CancellationToken.None);

                await Task.Delay(profile.BeforeBurst, cancellationToken);
                var burstStarted = watch.Elapsed;
                var consumerSecondsAtBurst = supervisor?.ConsumerSeconds ?? 0;
                var batch = new List<Task>(256);
                for (var i = 0; i < profile.Burst; i++)
                {
                    batch.Add(endpoint.Send(new SupervisorJob(Interlocked.Increment(ref number), true), cancellationToken));
                    if (batch.Count == batch.Capacity)
                    {
                        await Task.WhenAll(batch);
                        Interlocked.Add(ref sent, batch.Count);
                        batch.Clear();
                    }
                }
                await Task.WhenAll(batch);
                Interlocked.Add(ref sent, batch.Count);

                await state.BurstDone.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
                var drained = state.BurstDoneAt(watch) - burstStarted;
                var drainConsumerSeconds = supervisor is not null ? supervisor.ConsumerSeconds - consumerSecondsAtBurst : concurrency!.Value * drained.TotalSeconds;

                // The window is the same length for every variant; past it, wait only for what the metrics need.
                var windowLeft = profile.Window - watch.Elapsed;
                if (windowLeft > TimeSpan.Zero)
                    await Task.Delay(windowLeft, cancellationToken);
                var consumerSeconds = supervisor is not null ? supervisor.ConsumerSeconds - consumerSecondsAtStart : concurrency!.Value * profile.Window.TotalSeconds;
                if (supervisor is not null && watch.Elapsed > profile.Window)
                    consumerSeconds -= supervisor.Limit * (watch.Elapsed - profile.Window).TotalSeconds;
                await stopTrickle.CancelAsync();
                await trickle.ContinueWith(_ => { }, CancellationToken.None);
                await sampler;

                double? returnedToMin = null;
                if (supervisor is not null)
                {
                    var drainedAt = (burstStarted + drained).TotalSeconds;
                    await WaitUntilAsync(() => limitChanges.Any(c => c.Seconds >= drainedAt && c.Limit == Min), TimeSpan.FromSeconds(30), cancellationToken);
                    returnedToMin = limitChanges.Where(c => c.Seconds >= drainedAt && c.Limit == Min).Select(c => c.Seconds - drainedAt).Cast<double?>().FirstOrDefault();
                }

                var total = Interlocked.Read(ref sent);
                await WaitUntilAsync(() => state.Unique >= total, TimeSpan.FromMinutes(2), cancellationToken);
                lock (points)
                    return new Run(variant, drained.TotalSeconds, consumerSeconds, drainConsumerSeconds, state.BusyConsumerSeconds, state.Peak, returnedToMin, total, total - state.Unique,
                        points.ToArray());
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
        }

        static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var watch = Stopwatch.StartNew();
            while (!condition() && watch.Elapsed < timeout)
                await Task.Delay(20, cancellationToken);
        }

        static void Plot(string path, Run supervised, Run fixedMax, Profile profile)
        {
            var plot = new ScottPlot.Plot();
            var seconds = supervised.Points.Select(p => p.Seconds).ToArray();
            var depth = plot.Add.Scatter(seconds, supervised.Points.Select(p => (double)p.Backlog).ToArray());
            depth.LegendText = "backlog (sent, not yet consuming)";
            depth.MarkerSize = 0;
            depth.Axes.YAxis = plot.Axes.Right;
            var limit = plot.Add.Scatter(seconds, supervised.Points.Select(p => (double)p.Limit).ToArray());
            limit.LegendText = "supervised: concurrency limit";
            limit.MarkerSize = 0;
            limit.LineWidth = 2;
            var busy = plot.Add.Scatter(seconds, supervised.Points.Select(p => (double)p.InConsumer).ToArray());
            busy.LegendText = "supervised: consuming now";
            busy.MarkerSize = 0;
            var fixedLine = plot.Add.HorizontalLine(Max);
            fixedLine.LegendText = $"fixed at max ({Max}): drained in {fixedMax.DrainSeconds:0.0}s";
            fixedLine.LinePattern = ScottPlot.LinePattern.Dashed;
            var window = plot.Add.VerticalLine(profile.Window.TotalSeconds);
            window.LegendText = "end of the cost window";
            window.LinePattern = ScottPlot.LinePattern.Dotted;
            plot.Title($"Supervisor: concurrency follows depth (burst of {profile.Burst:N0}, drained in {supervised.DrainSeconds:0.0}s)");
            plot.XLabel("seconds");
            plot.Axes.Left.Label.Text = "consumers";
            plot.Axes.Right.Label.Text = "messages";
            plot.ShowLegend(ScottPlot.Alignment.UpperRight);
            plot.SavePng(path, 1200, 600);
        }

        /// <summary>What the consumers did: who is consuming now, each job once, the burst's end.</summary>
        public sealed class JobState(int burst, TimeSpan work)
        {
            readonly ConcurrentDictionary<int, byte> _seen = new();
            readonly TaskCompletionSource _burstDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
            int _inConsumer, _peak, _burstConsumed;
            long _consumed, _burstDoneTicks;

            public int InConsumer => Volatile.Read(ref _inConsumer);

            public int Peak => Volatile.Read(ref _peak);

            public long Consumed => Interlocked.Read(ref _consumed);

            public long Unique => _seen.Count;

            public TimeSpan Work => work;

            public double BusyConsumerSeconds { get; set; }

            public Task BurstDone => _burstDone.Task;

            public TimeSpan BurstDoneAt(Stopwatch watch) => watch.Elapsed - Stopwatch.GetElapsedTime(Interlocked.Read(ref _burstDoneTicks));

            public void Enter()
            {
                var now = Interlocked.Increment(ref _inConsumer);
                int peak;
                while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
                {
                }
            }

            public void Leave(SupervisorJob job)
            {
                _seen.TryAdd(job.Number, 0);
                Interlocked.Increment(ref _consumed);
                Interlocked.Decrement(ref _inConsumer);
                if (job.Burst && Interlocked.Increment(ref _burstConsumed) == burst)
                {
                    Interlocked.Exchange(ref _burstDoneTicks, Stopwatch.GetTimestamp());
                    _burstDone.TrySetResult();
                }
            }
        }

        /// <summary>A probe that reads an empty queue at no cost: for measuring the gate alone (the overhead scenario).</summary>
        public sealed class EmptyQueueProbe : IQueueDepthProbe
        {
            public string Name => "empty";

            public bool KnowsUnacknowledged => true;

            public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) =>
                Task.FromResult(new QueueDepthSample(queue, 0, 0, null, DateTimeOffset.UtcNow));
        }

        sealed class JobConsumer(JobState state) : IConsumer<SupervisorJob>
        {
            public async Task Consume(ConsumeContext<SupervisorJob> context)
            {
                state.Enter();
                try
                {
                    await Task.Delay(state.Work, context.CancellationToken);
                }
                finally
                {
                    state.Leave(context.Message);
                }
            }
        }
    }
}
