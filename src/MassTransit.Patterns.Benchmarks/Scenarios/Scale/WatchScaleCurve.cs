using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Benchmarks.Scenarios.WatchMessages;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Watch;
using MassTransit.Patterns.RabbitMQ.Watch;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Watch;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static MassTransit.Patterns.Benchmarks.Scenarios.Scale.CurveFigures;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// <c>watch</c>: W watchers (10 → 5,000) over K keys (1 → 1,000; K = W / 5 at most 1,000, at least 1). Every watcher watches the
/// key <c>hot</c> and one of the K keys; on RabbitMQ the source keeps its registry in PostgreSQL (EF Core store) and the watchers
/// live in 4 processes (buses) of their own, in memory the store is the in-memory one and the watchers share the source's bus.
/// <c>fanout_p99_ms</c>: one change of <c>hot</c>, from <c>Set</c> called until every one of the W watchers applied it (p99 over
/// the changes, one at a time); <c>registry_rows</c>: watcher rows and their watched-key rows; <c>renewals_per_s</c>: the
/// registrations the source answered per second over two renewal intervals (the default 10 s, lease 30 s), against the
/// expected W / 10 s.
/// </summary>
/// <param name="fanOutConcurrency">The source's <see cref="WatchSourceOptions.FanOutConcurrency"/>: notifications of one change in flight at once.</param>
/// <param name="renewSeconds">The watchers' renew interval (default 10 s, the watcher's default); the lease is 30 s or three intervals.</param>
public sealed class WatchScaleCurve(int fanOutConcurrency = 32, int renewSeconds = 10) : IScaleCurve
{
    const string Hot = "hot";
    readonly TimeSpan Renew = TimeSpan.FromSeconds(renewSeconds);

    public string Pattern => "watch";

    public string Unit => "watchers (over 1 to 1,000 keys)";

    public IReadOnlyList<long> Steps(BenchContext context) => context.Quick ? [10, 100, 1_000] : [10, 100, 1_000, 5_000];

    static int Keys(long watchers) => (int)Math.Clamp(watchers / 5, 1, 1_000);

    public async Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken)
    {
        var rabbit = context.Transport == BenchContext.RabbitMq;
        var watchers = (int)size;
        var keys = Keys(size);
        var endpoint = $"scale-watch-{Guid.NewGuid():N}"[..24];
        var figures = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["keys"] = keys,
            ["fan_out_concurrency"] = fanOutConcurrency,
            ["renew_s"] = renewSeconds
        };

        await using var database = rabbit
            ? await ThrowawayDatabase<WatchBenchDb>.CreateAsync(true, "scale_watch", o => new WatchBenchDb(o), cancellationToken: cancellationToken)
            : null;
        var services = new ServiceCollection().AddMetrics().AddLogging(l => l.SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error));
        if (database is not null)
        {
            services.AddDbContext<WatchBenchDb>(database.Configure);
            services.AddEntityFrameworkWatchStore<WatchBenchDb>();
            services.AddRabbitMqWatchDelivery();
        }
        else
            services.AddWatcherFactory<BenchSetting>();
        services.AddMassTransit(x =>
        {
            x.AddWatchSource<BenchSetting>(o =>
            {
                o.Name = endpoint;
                o.EndpointName = endpoint;
                o.LeaseDuration = TimeSpan.FromSeconds(Math.Max(30, renewSeconds * 3));
                o.SweepInterval = TimeSpan.FromSeconds(5);
                o.FanOutConcurrency = fanOutConcurrency;
            });
            context.UseTransport(x);
        });
        await using var sourceProvider = services.BuildServiceProvider(true);
        var sourceBus = sourceProvider.GetRequiredService<IBusControl>();
        await sourceBus.StartAsync(cancellationToken);
        var processes = new List<ServiceProvider>();
        using var registrations = new RegistrationCounter(endpoint);
        try
        {
            var source = sourceProvider.GetRequiredService<IWatchSource<BenchSetting>>();
            var store = sourceProvider.GetRequiredService<IWatchStore>();
            await source.Set(Hot, new BenchSetting(Hot, 1), cancellationToken);
            for (var k = 0; k < keys; k++)
                await source.Set(Key(k), new BenchSetting(Key(k), 1), cancellationToken);

            var factories = new List<IWatcherFactory<BenchSetting>>();
            if (rabbit)
                for (var p = 0; p < (watchers <= 10 ? 1 : 4); p++)
                {
                    var process = new ServiceCollection().AddMetrics().AddWatcherFactory<BenchSetting>();
                    process.AddMassTransit(x => context.UseTransport(x));
                    var provider = process.BuildServiceProvider(true);
                    processes.Add(provider);
                    await provider.GetRequiredService<IBusControl>().StartAsync(cancellationToken);
                    factories.Add(provider.GetRequiredService<IWatcherFactory<BenchSetting>>());
                }
            else
                factories.Add(sourceProvider.GetRequiredService<IWatcherFactory<BenchSetting>>());

            // Registered 50 at a time; each one counts the versions of hot it applies.
            var fleet = new IWatcher<BenchSetting>[watchers];
            var fanout = new LongFanOut();
            var watch = Stopwatch.StartNew();
            for (var start = 0; start < watchers; start += 50)
                await Task.WhenAll(Enumerable.Range(start, Math.Min(50, watchers - start)).Select(async j =>
                {
                    var watcher = await factories[j % factories.Count].Watch(o =>
                    {
                        o.SourceAddress = new Uri($"exchange:{endpoint}");
                        o.RenewInterval = Renew;
                        o.RegistrationTimeout = TimeSpan.FromSeconds(60);
                        // The source goes with the step: 5,000 cancellations one by one would only slow the teardown.
                        o.UnregisterOnStop = false;
                        o.Keys.Add(Hot);
                        o.Keys.Add(Key(j % keys));
                    }, cancellationToken);
                    watcher.Changed += (_, e) =>
                    {
                        if (e.Key == Hot)
                            fanout.Applied(e.Version);
                    };
                    fleet[j] = watcher;
                }));
            figures["register_s"] = watch.Elapsed.TotalSeconds;
            context.Progress($"watch {N(watchers)}: registered over {keys} keys in {watch.Elapsed.TotalSeconds:0.0} s (load {LoadAverage():0.00})");

            // Renewal traffic over two intervals, before any change.
            var before = registrations.Count;
            watch.Restart();
            await Task.Delay(Renew * 2 < TimeSpan.FromSeconds(60) ? Renew * 2 : TimeSpan.FromSeconds(20), cancellationToken);
            var renewalsPerSecond = (registrations.Count - before) / watch.Elapsed.TotalSeconds;
            figures["renewals_per_s"] = renewalsPerSecond;
            figures["renewals_expected_per_s"] = watchers / Renew.TotalSeconds;

            // Fan-out of one change of hot to every watcher, one change at a time.
            var histogram = Histogram();
            var changes = context.Quick ? 10 : 20;
            for (var c = 0; c < changes + 2; c++)
            {
                var version = c + 2;
                var all = fanout.Expect(version, watchers);
                var started = Stopwatch.GetTimestamp();
                var result = await source.Set(Hot, new BenchSetting(Hot, version), cancellationToken);
                if (result.Version != version)
                    throw new InvalidOperationException($"hot was stored as version {result.Version}, expected {version}");
                await all.WaitAsync(TimeSpan.FromSeconds(120), cancellationToken);
                if (c >= 2) // two warm-up changes
                    histogram.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds));
            }
            figures["fanout_p50_ms"] = Ms(histogram, 50);
            figures["fanout_p99_ms"] = Ms(histogram, 99);
            figures["fanout_per_watcher_us"] = histogram.GetValueAtPercentile(50) / (double)watchers;

            // The registry: watcher rows and their watched-key rows.
            if (database is not null)
            {
                await using var db = database.Open();
                var rows = await db.Database.SqlQueryRaw<long>(
                        $"SELECT (SELECT count(*) FROM \"{WatchModelBuilderExtensions.WatcherTable}\") + (SELECT count(*) FROM \"{WatchModelBuilderExtensions.KeyTable}\") AS \"Value\"")
                    .SingleAsync(cancellationToken);
                figures["registry_rows"] = rows;
            }
            else
            {
                var perKey = await store.CountWatchersAsync(endpoint, DateTime.UtcNow, cancellationToken);
                figures["registry_rows"] = watchers + perKey.Values.Sum();
            }
            figures["managed_bytes"] = GC.GetTotalMemory(true);
            figures["load_avg_1m"] = LoadAverage();
            context.Progress($"watch {N(watchers)}: fan-out p99 {Ms(histogram, 99):0.0} ms (p50 {Ms(histogram, 50):0.0}), registry {figures["registry_rows"]} rows, "
                             + $"{renewalsPerSecond:0.0} renewals/s of {watchers / Renew.TotalSeconds:0.0} expected (load {figures["load_avg_1m"]:0.00})");
            foreach (var watcher in fleet)
                await watcher.DisposeAsync();
            return new ScaleStep(size, figures);
        }
        finally
        {
            foreach (var process in processes)
            {
                await process.GetRequiredService<IBusControl>().StopAsync(CancellationToken.None);
                await process.DisposeAsync();
            }
            await sourceBus.StopAsync(CancellationToken.None);
            if (rabbit)
                await RabbitCleanup.DeleteEndpointsAsync([endpoint]);
        }
    }

    public ScaleSummary Summarize(IReadOnlyList<ScaleStep> steps)
    {
        string[] growing = ["fanout_p99_ms", "registry_rows", "renewals_per_s"];
        var largest = steps.Max(s => s.Size);
        var p99 = AtLargest(steps, "fanout_p99_ms");
        var figures = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [$"fanout_p99_ms_{largest}"] = p99,
            [$"registry_rows_{largest}"] = AtLargest(steps, "registry_rows"),
            [$"renewals_per_s_{largest}"] = AtLargest(steps, "renewals_per_s"),
            ["fanout_bound_ms"] = 2_000,
            ["fanout_bound_held"] = p99 <= 2_000 ? 1 : 0
        };
        var growth = growing.ToDictionary(g => g, g => Growth(steps, g), StringComparer.Ordinal);
        var perWatcher = largest > 0 ? p99 * 1000 / largest : 0;
        var sentence = $"One change reaches all of {N(largest)} watchers in {F(p99)} ms at p99 (about {F(perWatcher)} µs a watcher, {growth["fanout_p99_ms"]} in "
                       + $"the watchers); the registry holds {N(AtLargest(steps, "registry_rows"))} rows ({growth["registry_rows"]}: a watcher row and one per "
                       + $"watched key), and renewals cost {F(AtLargest(steps, "renewals_per_s"))} registrations a second ({growth["renewals_per_s"]}: "
                       + $"watchers / renew interval, here {renewSeconds} s).";
        return new ScaleSummary(figures, growth, sentence);
    }

    static string Key(int k) => $"bench/{k}";

    /// <summary>Counts the registrations (and renewals) the source named answered, from its metric.</summary>
    sealed class RegistrationCounter : IDisposable
    {
        readonly MeterListener _listener = new();
        long _count;

        public RegistrationCounter(string source)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == PatternsDiagnostics.InstrumentPrefix + "watch.registrations")
                    listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag.Value as string == source)
                    {
                        Interlocked.Add(ref _count, value);
                        return;
                    }
            });
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>Completes when the expected number of watchers applied one version of hot.</summary>
    sealed class LongFanOut
    {
        readonly Lock _lock = new();
        long _version;
        int _remaining;
        TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Expect(long version, int watchers)
        {
            lock (_lock)
            {
                _version = version;
                _remaining = watchers;
                _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _done.Task;
            }
        }

        public void Applied(long version)
        {
            lock (_lock)
            {
                if (version == _version && --_remaining == 0)
                    _done.TrySetResult();
            }
        }
    }
}
