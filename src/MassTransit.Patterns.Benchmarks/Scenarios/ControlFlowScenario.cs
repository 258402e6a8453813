using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>What the control-flow scenario's producer sends.</summary>
    public record Telemetry(int Number);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    using Messages;

    /// <summary>
    /// <c>control-flow</c>: a producer three times faster than its consumer runs for a minute, once with
    /// producer control flow (watermarks, rate limit while slow) and once without. The queue's peak
    /// depth is compared; every message sent with control must be consumed; the state must never
    /// change between the marks (a flap).
    /// </summary>
    public sealed class ControlFlowScenario : IBenchScenario
    {
        const int ConsumerWorkMs = 10;
        const int ProducerRatePerSecond = 300;
        const long HighWatermark = 300, LowWatermark = 150;
        const double SlowRatePerSecond = 40;
        static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

        public string Name => "control-flow";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var duration = context.Quick ? TimeSpan.FromSeconds(20) : TimeSpan.FromSeconds(60);
            context.Progress($"with control flow, {duration.TotalSeconds:0}s at {ProducerRatePerSecond} msg/s into a ~{1000 / ConsumerWorkMs} msg/s consumer");
            var controlled = await RunOnceAsync(context, duration, control: true, cancellationToken);
            context.Progress($"with control: peak depth {controlled.PeakDepth}, sent {controlled.Sent}, lost {controlled.Lost}, flaps {controlled.Flaps}");
            context.Progress("without control flow");
            var uncontrolled = await RunOnceAsync(context, duration, control: false, cancellationToken);
            context.Progress($"without control: peak depth {uncontrolled.PeakDepth}");

            var png = Path.Combine(context.OutputFolder, $"{Name}.{context.Transport}.png");
            Directory.CreateDirectory(context.OutputFolder);
            Plot(png, controlled, uncontrolled);

            return new BenchResult(Name, context.Transport)
                .Parameter("duration_s", duration.TotalSeconds)
                .Parameter("producer_msg_per_s", ProducerRatePerSecond)
                .Parameter("consumer_work_ms", ConsumerWorkMs)
                .Parameter("consumer_concurrency", 1)
                .Parameter("low_watermark", LowWatermark)
                .Parameter("poll_interval_ms", PollInterval.TotalMilliseconds)
                .Parameter("slow_action", $"RateLimit {SlowRatePerSecond}/s")
                .Metric("peak_depth", controlled.PeakDepth)
                .Metric("peak_depth_without", uncontrolled.PeakDepth)
                .Metric("peak_depth_ratio", (double)controlled.PeakDepth / Math.Max(1, uncontrolled.PeakDepth))
                .Metric("high_watermark", HighWatermark)
                .Metric("lost", controlled.Lost)
                .Metric("flaps", controlled.Flaps)
                .Metric("transitions", controlled.Transitions)
                .Metric("sent", controlled.Sent)
                .Metric("sent_without", uncontrolled.Sent);
        }

        sealed record Run(int Sent, long PeakDepth, long Lost, int Flaps, int Transitions, List<(double Seconds, long Depth)> Depths);

        sealed class Consumed
        {
            public readonly ConcurrentDictionary<int, byte> Numbers = new();
            public volatile bool Draining;
        }

        sealed class TelemetryConsumer(Consumed consumed) : IConsumer<Telemetry>
        {
            public async Task Consume(ConsumeContext<Telemetry> context)
            {
                if (!consumed.Draining)
                    await Task.Delay(ConsumerWorkMs);
                consumed.Numbers.TryAdd(context.Message.Number, 0);
            }
        }

        static async Task<Run> RunOnceAsync(BenchContext context, TimeSpan duration, bool control, CancellationToken cancellationToken)
        {
            var queue = $"bench-flow-{Guid.NewGuid():N}"[..24];
            var consumed = new Consumed();
            var builder = new HostBuilder().ConfigureServices(s =>
            {
                s.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
                s.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
                s.AddSingleton(consumed);
                if (context.Transport == BenchContext.RabbitMq)
                    s.AddRabbitMqQueueDepthProbe(o =>
                    {
                        o.HostName = ServiceEnvironment.RabbitHost;
                        o.Port = ServiceEnvironment.RabbitAmqpPort;
                        o.UserName = ServiceEnvironment.RabbitUser;
                        o.Password = ServiceEnvironment.RabbitPassword;
                    });
                else
                    s.AddInMemoryQueueDepthProbe();
                s.AddQueueDepthMonitor(o => o.PollInterval = PollInterval);
                if (control)
                    s.AddFlowMonitor(o =>
                    {
                        o.PublishToBus = false;
                        o.Watch(queue, HighWatermark, LowWatermark);
                    });
                s.AddMassTransit(x =>
                {
                    x.AddConsumer<TelemetryConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 1;
                        e.PrefetchCount = 1;
                    });
                    context.UseTransport(x, (ctx, cfg) =>
                    {
                        if (control)
                            cfg.UseProducerControlFlow(ctx, o =>
                            {
                                o.WhenSlow = SlowAction.RateLimit;
                                o.SlowRatePerSecond = SlowRatePerSecond;
                            });
                    });
                });
            });
            using var host = builder.Build();
            var statements = new List<FlowControlStateChanged>();
            if (control)
                host.Services.GetRequiredService<FlowControlStateStore>().Applied += s =>
                {
                    lock (statements)
                        statements.Add(s);
                };
            await host.StartAsync(cancellationToken);

            var probe = host.Services.GetRequiredService<IQueueDepthProbe>();
            var depths = new List<(double, long)>();
            var watch = Stopwatch.StartNew();
            using var stopSampling = new CancellationTokenSource();
            var sampling = Task.Run(async () =>
            {
                while (!stopSampling.IsCancellationRequested)
                {
                    try
                    {
                        var depth = await probe.GetDepthAsync(queue, cancellationToken);
                        lock (depths)
                            depths.Add((watch.Elapsed.TotalSeconds, depth.Ready));
                    }
                    catch (QueueDepthProbeException)
                    {
                    }
                    await Task.Delay(100, cancellationToken);
                }
            }, cancellationToken);

            var bus = host.Services.GetRequiredService<IBus>();
            var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
            var sent = 0;
            var tick = TimeSpan.FromSeconds(10.0 / ProducerRatePerSecond);
            var next = TimeSpan.Zero;
            var lastReport = TimeSpan.Zero;
            while (watch.Elapsed < duration)
            {
                // Ten messages a tick; time lost while held is not made up with a burst.
                for (var i = 0; i < 10; i++, sent++)
                    await endpoint.Send(new Telemetry(sent), cancellationToken);
                next = next + tick > watch.Elapsed ? next + tick : watch.Elapsed;
                if (next - watch.Elapsed is { Ticks: > 0 } wait)
                    await Task.Delay(wait, cancellationToken);
                if (watch.Elapsed - lastReport > TimeSpan.FromSeconds(10))
                {
                    lastReport = watch.Elapsed;
                    context.Progress($"  {watch.Elapsed.TotalSeconds:0}s: sent {sent}, consumed {consumed.Numbers.Count}");
                }
            }
            await stopSampling.CancelAsync();
            await sampling.ContinueWith(_ => { }, CancellationToken.None);

            long lost = 0;
            if (control)
            {
                var drain = Stopwatch.StartNew();
                while (consumed.Numbers.Count < sent && drain.Elapsed < TimeSpan.FromSeconds(90))
                    await Task.Delay(100, cancellationToken);
                lost = Enumerable.Range(0, sent).Count(n => !consumed.Numbers.ContainsKey(n));
            }
            consumed.Draining = true;
            var drainRest = Stopwatch.StartNew();
            while (consumed.Numbers.Count < sent && drainRest.Elapsed < TimeSpan.FromSeconds(60))
                await Task.Delay(100, cancellationToken);
            await host.StopAsync(CancellationToken.None);

            // A flap is a state change decided while the depth sat between the marks.
            var flaps = 0;
            var transitions = 0;
            for (var i = 1; i < statements.Count; i++)
                if (statements[i].State != statements[i - 1].State)
                {
                    transitions++;
                    if (statements[i].Depth > LowWatermark && statements[i].Depth < HighWatermark)
                        flaps++;
                }

            var peak = depths.Count == 0 ? 0 : depths.Max(d => d.Item2);
            return new Run(sent, peak, lost, flaps, transitions, depths);
        }

        static void Plot(string path, Run controlled, Run uncontrolled)
        {
            var plot = new ScottPlot.Plot();
            var without = plot.Add.Scatter(uncontrolled.Depths.Select(d => d.Seconds).ToArray(), uncontrolled.Depths.Select(d => (double)d.Depth).ToArray());
            without.LegendText = $"without control flow (peak {uncontrolled.PeakDepth:N0})";
            without.MarkerSize = 0;
            var with = plot.Add.Scatter(controlled.Depths.Select(d => d.Seconds).ToArray(), controlled.Depths.Select(d => (double)d.Depth).ToArray());
            with.LegendText = $"with control flow (peak {controlled.PeakDepth:N0})";
            with.MarkerSize = 0;
            with.LineWidth = 2;
            var high = plot.Add.HorizontalLine(HighWatermark);
            high.LegendText = $"high watermark ({HighWatermark})";
            high.LinePattern = ScottPlot.LinePattern.Dashed;
            var low = plot.Add.HorizontalLine(LowWatermark);
            low.LegendText = $"low watermark ({LowWatermark})";
            low.LinePattern = ScottPlot.LinePattern.Dotted;
            plot.Title($"Producer control flow: queue depth, producer {ProducerRatePerSecond} msg/s, consumer ~{1000 / ConsumerWorkMs} msg/s");
            plot.XLabel("seconds");
            plot.YLabel("messages ready");
            plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
            plot.SavePng(path, 1200, 600);
        }
    }
}
