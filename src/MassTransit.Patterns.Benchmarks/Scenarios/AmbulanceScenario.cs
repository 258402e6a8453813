using System.Diagnostics;
using HdrHistogram;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>The ambulance scenario's message: normal backlog or urgent, stamped when sent.</summary>
    public record AmbulanceBenchMessage(int Number, bool Urgent, long SentAt);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    using Messages;

    /// <summary>
    /// <c>ambulance</c>: how long urgent messages wait behind a normal backlog with slow consumers.
    /// The same backlog (10,000 messages, 20 ms of work each, 8 consumers, prefetch 32) and the same
    /// urgent messages (sent one by one while the backlog drains) go through: a single queue; the
    /// ambulance lane (queue 6 slots + lane 2 slots, ambulance mode, same prefetch on the queue); and,
    /// on RabbitMQ, one queue with x-max-priority where urgent messages carry priority 9. Urgent wait
    /// is measured from send to consume start (HdrHistogram); normal throughput is the backlog drained
    /// per second.
    /// </summary>
    public sealed class AmbulanceScenario : IBenchScenario
    {
        const int Consumers = 8;
        const int LaneSlots = 2;
        const int Prefetch = 32;
        static readonly TimeSpan WorkTime = TimeSpan.FromMilliseconds(20);

        public string Name => "ambulance";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

        enum Variant
        {
            SingleQueue,
            Lane,
            BrokerPriority
        }

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var backlog = context.Quick ? 2_000 : 10_000;
            var urgent = context.Quick ? 50 : 200;
            // Urgent messages are spread over the first 40% of the drain, so the backlog is always deep when they arrive.
            var drain = TimeSpan.FromMilliseconds(backlog * WorkTime.TotalMilliseconds / Consumers);
            var interval = drain * 0.4 / urgent;

            var variants = new List<Variant> { Variant.SingleQueue, Variant.Lane };
            if (context.Transport == BenchContext.RabbitMq)
                variants.Add(Variant.BrokerPriority);

            context.Progress($"warm-up ({string.Join(", ", variants)})");
            foreach (var variant in variants)
                await RunOnceAsync(context, variant, backlog: 200, urgent: 5, TimeSpan.FromMilliseconds(10), cancellationToken);

            var runs = new Dictionary<Variant, Run>();
            foreach (var variant in variants)
            {
                context.Progress($"{variant}: backlog {backlog:N0}, {urgent} urgent every {interval.TotalMilliseconds:0} ms (drain ~{drain.TotalSeconds:0} s)");
                var run = await RunOnceAsync(context, variant, backlog, urgent, interval, cancellationToken);
                runs[variant] = run;
                context.Progress($"{variant}: urgent p50 {run.P(50):0.#} ms, p99 {run.P(99):0.#} ms, max {run.Max:0.#} ms; backlog {run.NormalPerSecond:0} msg/s");
            }

            var single = runs[Variant.SingleQueue];
            var lane = runs[Variant.Lane];
            var result = new BenchResult(Name, context.Transport)
                .Parameter("backlog", backlog)
                .Parameter("urgent_messages", urgent)
                .Parameter("urgent_interval_ms", Math.Round(interval.TotalMilliseconds, 1))
                .Parameter("work_ms", WorkTime.TotalMilliseconds)
                .Parameter("consumers", Consumers)
                .Parameter("lane", $"queue {Consumers - LaneSlots} slots + lane {LaneSlots} slots, ambulance mode")
                .Parameter("prefetch", Prefetch)
                .Metric("urgent_p99_ms", lane.P(99))
                .Metric("urgent_p50_ms", lane.P(50))
                .Metric("urgent_max_ms", lane.Max)
                .Metric("urgent_p99_ms_single_queue", single.P(99))
                .Metric("urgent_p50_ms_single_queue", single.P(50))
                .Metric("improvement_ratio", single.P(99) / lane.P(99))
                .Metric("standard_throughput_ratio", lane.NormalPerSecond / single.NormalPerSecond)
                .Metric("standard_msg_per_s", lane.NormalPerSecond)
                .Metric("standard_msg_per_s_single_queue", single.NormalPerSecond)
                .Metric("in_flight_bound_ms", WorkTime.TotalMilliseconds)
                .Metric("urgent_p99_over_work", lane.P(99) / WorkTime.TotalMilliseconds);
            if (runs.TryGetValue(Variant.BrokerPriority, out var priority))
            {
                result.Metric("urgent_p99_ms_broker_priority", priority.P(99))
                    .Metric("urgent_p50_ms_broker_priority", priority.P(50))
                    .Metric("standard_msg_per_s_broker_priority", priority.NormalPerSecond)
                    .Metric("broker_priority_ratio", priority.P(99) / lane.P(99));
            }

            if (AmbulancePlot.Write(context.OutputFolder, Name, context.Transport,
                    runs.ToDictionary(r => r.Key.ToString(), r => r.Value.Points), WorkTime.TotalMilliseconds) is { } png)
                context.Progress($"plot -> {png}");
            return result;
        }

        static async Task<Run> RunOnceAsync(BenchContext context, Variant variant, int backlog, int urgent, TimeSpan interval,
            CancellationToken cancellationToken)
        {
            var queue = $"bench-amb-{Guid.NewGuid():N}"[..24];
            var run = new Run(backlog, urgent);
            var collection = new ServiceCollection()
                .AddMetrics()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(run);
            collection.AddMassTransit(x =>
            {
                x.AddConsumer<WorkConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = variant == Variant.Lane ? Consumers - LaneSlots : Consumers;
                    e.PrefetchCount = Prefetch;
                });
                if (variant == Variant.BrokerPriority)
                    x.AddConfigureEndpointsCallback((_, name, cfg) =>
                    {
                        if (name == queue && cfg is IRabbitMqReceiveEndpointConfigurator rabbit)
                            rabbit.SetQueueArgument("x-max-priority", 10);
                    });
                context.UseTransport(x, (registration, cfg) =>
                {
                    if (variant != Variant.Lane)
                        return;
                    void Lane(AmbulanceConfigurator a) => a.Endpoint(queue, o =>
                    {
                        o.Mode = AmbulanceMode.Ambulance;
                        o.ConcurrentMessageLimit = LaneSlots;
                    });
                    if (cfg is IRabbitMqBusFactoryConfigurator rabbit)
                        rabbit.UseAmbulanceLane(registration, Lane);
                    else
                        cfg.UseAmbulanceLane(registration, Lane);
                });
            });

            await using var provider = collection.BuildServiceProvider();
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            try
            {
                // exchange: addresses, so the priority queue's arguments are never redeclared (NOTES.md).
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                // One normal and one urgent message first, not measured: MassTransit builds each endpoint's
                // message pipes on first use, a one-off cost that would otherwise land on the first urgent message.
                await endpoint.Send(new AmbulanceBenchMessage(-1, false, 0), cancellationToken);
                await endpoint.Send(new AmbulanceBenchMessage(-2, true, 0), ctx =>
                {
                    ctx.SetUrgent();
                    if (variant == Variant.BrokerPriority)
                        ctx.SetPriority(9);
                }, cancellationToken);
                await run.WarmedUp.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);

                await Batches.SendAsync(backlog, i => endpoint.Send(new AmbulanceBenchMessage(i, false, 0), cancellationToken));

                // Consumers were held while the backlog was sent (each took its prefetch); now they go.
                run.Go();
                var pace = Stopwatch.StartNew();
                for (var i = 0; i < urgent; i++)
                {
                    var due = interval * i - pace.Elapsed;
                    if (due > TimeSpan.Zero)
                        await Task.Delay(due, cancellationToken);
                    await endpoint.Send(new AmbulanceBenchMessage(backlog + i, true, Stopwatch.GetTimestamp()), ctx =>
                    {
                        ctx.SetUrgent();
                        if (variant == Variant.BrokerPriority)
                            ctx.SetPriority(9);
                    }, cancellationToken);
                }

                var limit = TimeSpan.FromSeconds(30) + TimeSpan.FromMilliseconds(2.0 * (backlog + urgent) * WorkTime.TotalMilliseconds / (Consumers - LaneSlots));
                await run.Done.WaitAsync(limit, cancellationToken);
                return run;
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                if (context.Transport == BenchContext.RabbitMq)
                    await DeleteAsync(queue);
            }
        }

        static Task DeleteAsync(string queue)
        {
            var lane = queue + AmbulanceLaneOptions.DefaultSuffix;
            return RabbitCleanup.DeleteEndpointsAsync([queue, lane], lane + ".urgent");
        }

        /// <summary>One run's record: urgent waits, the backlog's drain, and when everything is done.</summary>
        sealed class Run(int backlog, int urgent)
        {
            readonly TaskCompletionSource _go = new(TaskCreationOptions.RunContinuationsAsynchronously);
            readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            readonly LongConcurrentHistogram _urgent = new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
            readonly List<(double AtSeconds, double WaitMs)> _points = [];
            long _goAt;
            long _lastNormalAt;
            int _normal;
            int _urgentCount;

            public Task Started => _go.Task;

            readonly TaskCompletionSource _warm = new(TaskCreationOptions.RunContinuationsAsynchronously);
            int _warmed;

            public Task WarmedUp => _warm.Task;

            public void Warm()
            {
                if (Interlocked.Increment(ref _warmed) == 2)
                    _warm.TrySetResult();
            }

            public Task Done => _done.Task;

            public IReadOnlyList<(double AtSeconds, double WaitMs)> Points
            {
                get
                {
                    lock (_points)
                        return _points.ToArray();
                }
            }

            public double P(double percentile) => _urgent.GetValueAtPercentile(percentile) / 1000.0;

            public double Max => _urgent.GetMaxValue() / 1000.0;

            public double NormalPerSecond => backlog / TimeSpan.FromSeconds((double)(_lastNormalAt - _goAt) / Stopwatch.Frequency).TotalSeconds;

            public void Go()
            {
                _goAt = Stopwatch.GetTimestamp();
                _go.SetResult();
            }

            public void Consumed(AmbulanceBenchMessage message)
            {
                var now = Stopwatch.GetTimestamp();
                if (message.Urgent)
                {
                    var waited = Stopwatch.GetElapsedTime(message.SentAt, now);
                    _urgent.RecordValue(Math.Max(1, (long)waited.TotalMicroseconds));
                    lock (_points)
                        _points.Add(((double)(message.SentAt - _goAt) / Stopwatch.Frequency, waited.TotalMilliseconds));
                    Interlocked.Increment(ref _urgentCount);
                }
            }

            public void Finished(AmbulanceBenchMessage message)
            {
                if (!message.Urgent && Interlocked.Increment(ref _normal) == backlog)
                    _lastNormalAt = Stopwatch.GetTimestamp();
                if (Volatile.Read(ref _normal) == backlog && Volatile.Read(ref _urgentCount) == urgent)
                    _done.TrySetResult();
            }
        }

        sealed class WorkConsumer(Run run) : IConsumer<AmbulanceBenchMessage>
        {
            public async Task Consume(ConsumeContext<AmbulanceBenchMessage> context)
            {
                if (context.Message.Number < 0)
                {
                    run.Warm();
                    return;
                }
                await run.Started;
                run.Consumed(context.Message);
                await Task.Delay(WorkTime, context.CancellationToken);
                run.Finished(context.Message);
            }
        }
    }
}
