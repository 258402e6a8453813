using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>A keyed message: <see cref="Seq"/> is its place in its key's send order.</summary>
    public record KeyedBenchMessage(string Key, Guid KeyId, int Seq);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    using Messages;

    /// <summary>
    /// <c>thread-delegate</c>: per-key order with parallel lanes against the alternatives, all in the
    /// same run on the same machine: unordered (same worker count, no order), MassTransit's
    /// <c>UsePartitioner</c> (as many partitions as workers, with the worker count as its concurrency,
    /// and again with the thread delegate's delivery buffer), and one message at a time (sequential). A producer sends sequentially over random keys; each message
    /// simulates I/O with a delay. Order violations are counted against each key's send order.
    /// A hot-key load follows: one key carries half the messages, the thread delegate with its default
    /// buffers against unordered; the figure is the p99 of the other (cold) keys' completion times,
    /// counted from the run's first send.
    /// </summary>
    public sealed class ThreadDelegateScenario : IBenchScenario
    {
        const int Workers = 16;
        const int MaxBuffered = 48;
        const int IoMilliseconds = 5;

        public string Name => "thread-delegate";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

        sealed record Variant(string Name, int Keys, int? Concurrency, Action<IRegistrationContext, IReceiveEndpointConfigurator>? Configure, bool Sequential = false, double HotShare = 0);

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var count = context.Quick ? 1_500 : 4_000;
            var rounds = context.Quick ? 1 : 3;
            var sequentialCount = context.Quick ? 150 : 300;

            Variant[] variants =
            [
                new("unordered", 64, Workers, null),
                new("thread_delegate", 64, Workers + MaxBuffered, ThreadDelegate),
                // The partitioner as usually configured: as many partitions as concurrent messages (the worker count).
                new("partitioner", 64, Workers, Partitioner),
                // ... and given the same delivery buffer as the thread delegate (Workers + MaxBuffered deliveries).
                new("partitioner_same_buffer", 64, Workers + MaxBuffered, Partitioner),
                new("thread_delegate_8_keys", 8, Workers + MaxBuffered, ThreadDelegate),
                new("partitioner_8_keys", 8, Workers, Partitioner),
                new("partitioner_8_keys_same_buffer", 8, Workers + MaxBuffered, Partitioner),
                new("sequential", 64, 1, null, Sequential: true)
            ];

            // One key carries half the traffic. The thread delegate keeps its default buffers (Concurrency null:
            // UseThreadDelegate sets Workers + MaxBuffered); unordered runs Workers messages at a time.
            var hotCount = context.Quick ? 1_200 : 3_000;
            Variant[] hotVariants =
            [
                new("unordered_hot_key", 64, Workers, null, HotShare: 0.5),
                new("thread_delegate_hot_key", 64, null, ThreadDelegateWithDefaultBuffers, HotShare: 0.5)
            ];

            var rates = variants.Concat(hotVariants).ToDictionary(v => v.Name, _ => new List<double>());
            var violations = variants.Concat(hotVariants).ToDictionary(v => v.Name, _ => 0L);
            var coldP99 = hotVariants.ToDictionary(v => v.Name, _ => new List<double>());
            var latency = new LongHistogram(TimeSpan.FromMinutes(5).Ticks / 10, 3);

            context.Progress("warm-up");
            foreach (var variant in variants)
                await MeasureAsync(context, variant, 200, seed: 1, latency: null, cancellationToken);

            for (var round = 1; round <= rounds; round++)
            {
                foreach (var variant in variants)
                {
                    var (rate, violated, _) = await MeasureAsync(context, variant, variant.Sequential ? sequentialCount : count, seed: round,
                        variant.Name == "thread_delegate" ? latency : null, cancellationToken);
                    rates[variant.Name].Add(rate);
                    violations[variant.Name] += violated;
                    context.Progress($"round {round}/{rounds} {variant.Name}: {rate:N0} msg/s, {violated} order violations");
                }
                foreach (var variant in hotVariants)
                {
                    var (rate, violated, cold) = await MeasureAsync(context, variant, hotCount, seed: round, latency: null, cancellationToken);
                    rates[variant.Name].Add(rate);
                    violations[variant.Name] += violated;
                    coldP99[variant.Name].Add(cold);
                    context.Progress($"round {round}/{rounds} {variant.Name}: {rate:N0} msg/s, cold keys' p99 completion {cold:N0} ms, {violated} order violations");
                }
            }

            double Median(string name) => Throughput.Median(rates[name]);
            var result = new BenchResult(Name, context.Transport)
                .Parameter("messages", count)
                .Parameter("sequential_messages", sequentialCount)
                .Parameter("rounds", rounds)
                .Parameter("keys", 64)
                .Parameter("workers", Workers)
                .Parameter("max_buffered", MaxBuffered)
                .Parameter("io_ms", IoMilliseconds)
                .Parameter("transport_concurrency", Workers + MaxBuffered)
                .Parameter("hot_key_messages", hotCount)
                .Parameter("hot_key_share", 0.5)
                .Metric("order_violations", violations["thread_delegate"] + violations["thread_delegate_8_keys"] + violations["thread_delegate_hot_key"])
                .Metric("cold_key_p99_ms_hot_key", Throughput.Median(coldP99["thread_delegate_hot_key"]))
                .Metric("cold_key_p99_ms_unordered", Throughput.Median(coldP99["unordered_hot_key"]))
                .Metric("throughput_ratio_vs_unordered", Median("thread_delegate") / Median("unordered"))
                .Metric("throughput_ratio_vs_partitioner", Median("thread_delegate") / Median("partitioner"))
                .Metric("throughput_ratio_vs_partitioner_8_keys", Median("thread_delegate_8_keys") / Median("partitioner_8_keys"))
                .Metric("throughput_ratio_vs_partitioner_same_buffer", Median("thread_delegate") / Median("partitioner_same_buffer"))
                .Metric("throughput_ratio_vs_partitioner_8_keys_same_buffer", Median("thread_delegate_8_keys") / Median("partitioner_8_keys_same_buffer"))
                .Metric("throughput_ratio_vs_sequential", Median("thread_delegate") / Median("sequential"))
                .Metric("thread_delegate_p99_ms", latency.TotalCount == 0 ? 0 : latency.GetValueAtPercentile(99) / (double)TimeSpan.TicksPerMillisecond);
            foreach (var variant in variants.Concat(hotVariants))
            {
                result.Metric($"msg_per_s.{variant.Name}", Median(variant.Name));
                result.Metric($"order_violations.{variant.Name}", violations[variant.Name]);
            }
            return result;
        }

        static void ThreadDelegate(IRegistrationContext context, IReceiveEndpointConfigurator e) =>
            e.UseThreadDelegate(context, o =>
            {
                o.Key<KeyedBenchMessage>(m => m.Key);
                o.Workers = Workers;
                o.MaxBuffered = MaxBuffered;
                if (e is IRabbitMqReceiveEndpointConfigurator)
                    o.UseRabbitMqDeliveryOrder();
            });

        /// <summary>The thread delegate as docs/thread-delegate.md shows it: the worker count and nothing else.</summary>
        static void ThreadDelegateWithDefaultBuffers(IRegistrationContext context, IReceiveEndpointConfigurator e) =>
            e.UseThreadDelegate(context, o =>
            {
                o.Key<KeyedBenchMessage>(m => m.Key);
                o.Workers = Workers;
                if (e is IRabbitMqReceiveEndpointConfigurator)
                    o.UseRabbitMqDeliveryOrder();
            });

        static void Partitioner(IRegistrationContext _, IReceiveEndpointConfigurator e) => e.UsePartitioner<KeyedBenchMessage>(e.CreatePartitioner(Workers), c => c.Message.KeyId);

        /// <summary>Runs one variant; returns its throughput, order violations and the p99 completion time (ms since the first send) of the cold keys' messages (hot-key loads).</summary>
        static async Task<(double Rate, long Violations, double ColdP99Ms)> MeasureAsync(BenchContext context, Variant variant, int count, int seed, LongHistogram? latency, CancellationToken cancellationToken)
        {
            var queue = $"bench-td-{Guid.NewGuid():N}"[..24];
            var hotKey = variant.HotShare > 0 ? 0 : -1;
            var recorder = new OrderRecorder(count, latency);
            var services = new ServiceCollection()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddMetrics()
                .AddSingleton(recorder);
            services.AddMassTransit(x =>
            {
                x.AddConsumer<KeyedIoConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    if (variant.Concurrency is { } concurrency)
                    {
                        e.ConcurrentMessageLimit = concurrency;
                        e.PrefetchCount = concurrency;
                    }
                });
                x.AddConfigureEndpointsCallback((registration, name, cfg) =>
                {
                    if (name == queue)
                        variant.Configure?.Invoke(registration, cfg);
                });
                context.UseTransport(x);
            });
            await using var provider = services.BuildServiceProvider();
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            try
            {
                var random = new Random(seed);
                // Random keys (the same ones for every variant of a round): where they collide is left to chance, as in production.
                var keyRandom = new Random(seed * 7919 + variant.Keys);
                var keys = Enumerable.Range(0, variant.Keys).Select(_ =>
                {
                    var bytes = new byte[16];
                    keyRandom.NextBytes(bytes);
                    var id = new Guid(bytes);
                    return (Name: id.ToString("N"), Id: id);
                }).ToArray();
                var next = new int[keys.Length];
                if (hotKey >= 0)
                    recorder.TrackCold(keys[hotKey].Name);
                var send = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var watch = Stopwatch.StartNew();
                recorder.Started();
                for (var i = 0; i < count; i++)
                {
                    var k = hotKey >= 0 && random.NextDouble() < variant.HotShare ? hotKey : hotKey >= 0 ? 1 + random.Next(keys.Length - 1) : random.Next(keys.Length);
                    await send.Send(new KeyedBenchMessage(keys[k].Name, keys[k].Id, next[k]++), c => c.Headers.Set("sent-at", Stopwatch.GetTimestamp()), cancellationToken);
                }
                await recorder.Completed.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
                return (count / watch.Elapsed.TotalSeconds, recorder.Violations, recorder.ColdP99Ms);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
        }

        sealed class OrderRecorder(int target, LongHistogram? latency)
        {
            readonly ConcurrentDictionary<string, StrongBox> _last = new();
            readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            readonly LongHistogram _cold = new(TimeSpan.FromMinutes(5).Ticks / 10, 3);
            string? _hotKey;
            long _startedAt;
            int _count;
            long _violations;

            public Task Completed => _done.Task;

            public long Violations => Interlocked.Read(ref _violations);

            /// <summary>The p99 completion time of the messages of keys other than the hot one, in ms since the first send.</summary>
            public double ColdP99Ms
            {
                get
                {
                    lock (_cold)
                        return _cold.TotalCount == 0 ? 0 : _cold.GetValueAtPercentile(99) / (double)TimeSpan.TicksPerMillisecond;
                }
            }

            public void TrackCold(string hotKey) => _hotKey = hotKey;

            public void Started() => _startedAt = Stopwatch.GetTimestamp();

            public void Complete(string key, int seq, long sentAt)
            {
                var last = _last.GetOrAdd(key, _ => new StrongBox());
                lock (last)
                {
                    // A violation: a message completes after a later message of its key already did.
                    if (seq < last.Value)
                        Interlocked.Increment(ref _violations);
                    else
                        last.Value = seq;
                }
                if (latency is not null && sentAt > 0)
                    lock (latency)
                        latency.RecordValue(Math.Max(1, Stopwatch.GetElapsedTime(sentAt).Ticks));
                if (_hotKey is not null && key != _hotKey)
                    lock (_cold)
                        _cold.RecordValue(Math.Max(1, Stopwatch.GetElapsedTime(_startedAt).Ticks));
                if (Interlocked.Increment(ref _count) == target)
                    _done.TrySetResult();
            }

            sealed class StrongBox
            {
                public int Value = -1;
            }
        }

        sealed class KeyedIoConsumer(OrderRecorder recorder) : IConsumer<KeyedBenchMessage>
        {
            public async Task Consume(ConsumeContext<KeyedBenchMessage> context)
            {
                await Task.Delay(IoMilliseconds, context.CancellationToken);
                recorder.Complete(context.Message.Key, context.Message.Seq, context.Headers.Get<long>("sent-at") ?? 0);
            }
        }
    }
}
