using System.Diagnostics;
using HdrHistogram;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// Thread delegate: distinct keys 100 → 1,000,000 (quick: → 100,000). Each step runs a fresh bus with one thread
/// delegate endpoint (16 workers, default buffers, a consumer that does no work, so the dispatcher's own cost shows)
/// and sends max(keys, <see cref="BaseMessages"/>) messages round the keys (key i mod N: at the largest steps every key
/// is seen once), with at most <see cref="Window"/> unconsumed (a closed loop: latency is the dispatcher's, not a
/// backlog's). Managed memory after a full GC is read with the bus started and warmed (start), right after the last
/// message (seen: every key idle now) and after an idle period (idle). Figures: <c>msg_per_s</c>,
/// <c>latency_p99_ms</c> (send to consume), <c>managed_bytes_*</c>, <c>bytes_per_key_seen</c> ((seen − start) / keys),
/// <c>memory_after_idle_pct</c> ((idle − start) / start, %), <c>keys_in_flight_after_idle</c> (the dispatcher's map).
/// </summary>
public sealed class ThreadDelegateScaleCurve : IScaleCurve
{
    const int Workers = 16;
    const int Window = 1_024;
    const int WarmUp = 2_000;

    int BaseMessages { get; set; } = 50_000;

    public string Pattern => "thread-delegate";

    public string Unit => "distinct keys";

    public IReadOnlyList<long> Steps(BenchContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        BaseMessages = context.Quick ? 20_000 : 50_000;
        return context.Quick ? [100, 1_000, 10_000, 100_000] : [100, 1_000, 10_000, 100_000, 1_000_000];
    }

    public async Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var keys = (int)size;
        var messages = Math.Max(keys, BaseMessages);
        var idle = context.Quick ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(5);
        var queue = $"bench-scale-td-{Guid.NewGuid():N}"[..28];
        var recorder = new Recorder(Window);
        var control = new ThreadDelegateControl();
        var services = new ServiceCollection()
            .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .AddMetrics()
            .AddSingleton(recorder);
        services.AddMassTransit(x =>
        {
            x.AddConsumer<ScaleKeyConsumer>().Endpoint(e => e.Name = queue);
            x.AddConfigureEndpointsCallback((registration, name, cfg) =>
            {
                if (name == queue)
                    cfg.UseThreadDelegate(registration, o =>
                    {
                        o.Key<ScaleKeyed>(m => m.Key);
                        o.Workers = Workers;
                        o.Control = control;
                        if (cfg is IRabbitMqReceiveEndpointConfigurator)
                            o.UseRabbitMqDeliveryOrder();
                    });
            });
            context.UseTransport(x);
        });
        await using var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(cancellationToken);
        try
        {
            var send = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
            await SendAsync(send, recorder, WarmUp, i => $"warm-{i}", cancellationToken);
            recorder.Reset();
            var start = ScaleMachine.ManagedBytesAfterFullGc();

            var watch = Stopwatch.StartNew();
            await SendAsync(send, recorder, messages, i => KeyOf(i % keys), cancellationToken);
            var rate = messages / watch.Elapsed.TotalSeconds;
            var seen = ScaleMachine.ManagedBytesAfterFullGc();

            await Task.Delay(idle, cancellationToken);
            var after = ScaleMachine.ManagedBytesAfterFullGc();
            var inFlight = control.Snapshot().Values.Sum(s => s.KeysInFlight);

            return new ScaleStep(size, new Dictionary<string, double>
            {
                ["messages"] = messages,
                ["msg_per_s"] = rate,
                ["latency_p99_ms"] = recorder.P99Ms,
                ["managed_bytes_start"] = start,
                ["managed_bytes_seen"] = seen,
                ["managed_bytes_idle"] = after,
                ["gc_heap_bytes_idle"] = GC.GetGCMemoryInfo().HeapSizeBytes,
                ["bytes_per_key_seen"] = Math.Max(0, seen - start) / (double)keys,
                ["memory_after_idle_pct"] = (after - start) * 100.0 / start,
                ["keys_in_flight_after_idle"] = inFlight,
                ["idle_s"] = idle.TotalSeconds
            });
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
            if (context.Transport == BenchContext.RabbitMq)
                await RabbitCleanup.DeleteEndpointsAsync([queue]);
        }
    }

    /// <summary>Key names built like a real id (32 hex characters), so a key costs what a production key costs.</summary>
    static string KeyOf(int i) => i.ToString("x32", System.Globalization.CultureInfo.InvariantCulture);

    static async Task SendAsync(ISendEndpoint send, Recorder recorder, int count, Func<int, string> key, CancellationToken cancellationToken)
    {
        var target = recorder.Consumed + count;
        await Batches.SendAsync(count, async i =>
        {
            await recorder.Window.WaitAsync(cancellationToken);
            await send.Send(new ScaleKeyed(key(i), i), c => c.Headers.Set("sent-at", Stopwatch.GetTimestamp()), cancellationToken);
        });
        while (recorder.Consumed < target)
            await Task.Delay(5, cancellationToken);
    }

    public ScaleSummary Summarize(IReadOnlyList<ScaleStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var first = steps[0];
        var last = steps[^1];
        var bytesPerIdleKey = last.Figures["bytes_per_key_seen"];
        var backPct = last.Figures["memory_after_idle_pct"];
        var ratio = last.Figures["msg_per_s"] / first.Figures["msg_per_s"];
        var figures = new Dictionary<string, double>
        {
            ["bytes_per_idle_key"] = bytesPerIdleKey,
            ["memory_after_idle_pct"] = backPct,
            ["keys_in_flight_after_idle"] = last.Figures["keys_in_flight_after_idle"],
            ["throughput_ratio_largest_vs_smallest"] = ratio,
            ["largest_keys"] = last.Size,
            ["smallest_keys"] = first.Size,
            ["bound.bytes_per_idle_key_le_512"] = bytesPerIdleKey <= 512 ? 1 : 0,
            ["bound.memory_back_within_10_pct"] = backPct <= 10 ? 1 : 0,
            ["bound.throughput_ratio_ge_0_8"] = ratio >= 0.8 ? 1 : 0
        };
        var growth = new Dictionary<string, string>
        {
            // What grows with the keys is the memory they leave behind: classed on the bytes kept (floor 64 KB, the GC's noise).
            ["managed_bytes_kept"] = GrowthFit.Classify([.. steps.Select(s => ((double)s.Size, s.Figures["managed_bytes_seen"] - s.Figures["managed_bytes_start"]))], floor: 65_536),
            ["latency_p99_ms"] = GrowthFit.Classify([.. steps.Select(s => ((double)s.Size, s.Figures["latency_p99_ms"]))], floor: 1)
        };
        var sentence = $"Memory per idle key: {bytesPerIdleKey:0.#} bytes (after {last.Size:N0} keys each seen once): a key's state is released when its last " +
            $"message finishes, and memory after a {last.Figures["idle_s"]:0} s idle period was {backPct:+0.#;-0.#;0}% of its start. " +
            $"Throughput at {last.Size:N0} keys was {ratio:0.00}× that at {first.Size:N0} keys; latency p99 {first.Figures["latency_p99_ms"]:0.#} ms → {last.Figures["latency_p99_ms"]:0.#} ms.";
        return new ScaleSummary(figures, growth, sentence);
    }

    sealed class Recorder(int window)
    {
        long _consumed;
        LongConcurrentHistogram _latency = New();

        public SemaphoreSlim Window { get; } = new(window, window);

        public long Consumed => Interlocked.Read(ref _consumed);

        public double P99Ms => _latency.TotalCount == 0 ? 0 : _latency.GetValueAtPercentile(99) / 1000.0;

        public void Reset() => _latency = New();

        public void Done(long sentAt)
        {
            if (sentAt > 0)
                _latency.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(sentAt).TotalMicroseconds));
            Interlocked.Increment(ref _consumed);
            Window.Release();
        }

        static LongConcurrentHistogram New() => new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
    }

    /// <summary>A keyed message of the scale curve.</summary>
    public sealed record ScaleKeyed(string Key, int Number);

    sealed class ScaleKeyConsumer(Recorder recorder) : IConsumer<ScaleKeyed>
    {
        public Task Consume(ConsumeContext<ScaleKeyed> context)
        {
            recorder.Done(context.Headers.Get<long>("sent-at") ?? 0);
            return Task.CompletedTask;
        }
    }
}
