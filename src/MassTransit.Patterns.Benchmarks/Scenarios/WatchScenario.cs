using System.Diagnostics;
using HdrHistogram;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Benchmarks.Scenarios.WatchMessages;
using MassTransit.Patterns.EntityFrameworkCore.Watch;
using MassTransit.Patterns.RabbitMQ.Watch;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Watch;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    /// <summary>
    /// Watch notification: a source (EF Core store: PostgreSQL on RabbitMQ, SQLite in memory) and watcher
    /// "processes" of ten watchers each. A burst changes every key many times while stale copies of old
    /// versions are fired at the watchers; then a fifth of the processes stop without unregistering and
    /// every key changes once more (RabbitMQ prunes them as unreachable; in memory their lease expires);
    /// then they start again and must hold the current values at registration.
    /// <c>converge_p99_ms</c>: source stored a version to watcher applied it (HdrHistogram, every watcher and
    /// version applied). <c>stale_applied</c>: Changed events that did not move a key forward (must be 0).
    /// </summary>
    public sealed class WatchScenario : IBenchScenario
    {
        const int WatchersPerProcess = 10;

        public string Name => "watch";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

        sealed class Tracker
        {
            public readonly LongConcurrentHistogram Converge = new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
            public long StaleApplied;

            public void Track(IWatcher<BenchSetting> watcher)
            {
                var last = watcher.Values.ToDictionary(v => v.Key, v => v.Value.Version);
                watcher.Changed += (_, e) =>
                {
                    Converge.RecordValue(Math.Max(1, (long)(DateTimeOffset.UtcNow - e.ChangedAt).TotalMicroseconds));
                    lock (last)
                    {
                        if (last.TryGetValue(e.Key, out var previous) && previous >= e.Version)
                            Interlocked.Increment(ref StaleApplied);
                        last[e.Key] = e.Version;
                    }
                };
            }
        }

        /// <summary>A group of watchers that stops and starts together: its own bus on RabbitMQ, a share of the source's bus in memory.</summary>
        sealed class WatcherProcess
        {
            public ServiceProvider? Provider;
            public IBusControl? Bus;
            public List<IWatcher<BenchSetting>> Watchers { get; } = [];
        }

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var rabbit = context.Transport == BenchContext.RabbitMq;
            var processes = context.Quick ? 5 : 10;
            var keys = context.Quick ? 5 : 10;
            var changes = context.Quick ? 10 : 30;
            var stopped = Math.Max(1, processes / 5);
            var lease = rabbit ? TimeSpan.FromMinutes(2) : TimeSpan.FromSeconds(10);
            var renew = rabbit ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(2.5);
            var endpoint = $"bench-watch-{Guid.NewGuid():N}"[..24];
            var tracker = new Tracker();

            await using var database = await ThrowawayDatabase<WatchBenchDb>.CreateAsync(rabbit, "bench_watch", o => new WatchBenchDb(o), cancellationToken: cancellationToken);
            var services = new ServiceCollection().AddMetrics();
            services.AddDbContext<WatchBenchDb>(database.Configure);
            services.AddEntityFrameworkWatchStore<WatchBenchDb>();
            if (rabbit)
                services.AddRabbitMqWatchDelivery();
            else
                services.AddWatcherFactory<BenchSetting>();
            services.AddMassTransit(x =>
            {
                x.AddWatchSource<BenchSetting>(o =>
                {
                    o.Name = endpoint;
                    o.EndpointName = endpoint;
                    o.LeaseDuration = lease;
                    o.SweepInterval = rabbit ? TimeSpan.FromSeconds(10) : TimeSpan.FromMilliseconds(250);
                    o.FanOutConcurrency = 32;
                    o.DeliveryAttempts = 3;
                    o.RetryInterval = TimeSpan.FromMilliseconds(50);
                });
                context.UseTransport(x);
            });
            await using var sourceProvider = services.BuildServiceProvider(true);
            var sourceBus = sourceProvider.GetRequiredService<IBusControl>();
            await sourceBus.StartAsync(cancellationToken);
            var fleet = new List<WatcherProcess>();
            try
            {
                var source = sourceProvider.GetRequiredService<IWatchSource<BenchSetting>>();
                var store = sourceProvider.GetRequiredService<IWatchStore>();
                for (var k = 0; k < keys; k++)
                    await source.Set(Key(k), new BenchSetting(Key(k), 1), cancellationToken);

                var ids = Enumerable.Range(0, processes).Select(_ => Enumerable.Range(0, WatchersPerProcess).Select(_ => Guid.NewGuid()).ToArray()).ToArray();
                for (var p = 0; p < processes; p++)
                    fleet.Add(await StartProcessAsync(context, sourceProvider, endpoint, ids[p], keys, renew, tracker, cancellationToken));
                context.Progress($"{processes * WatchersPerProcess} watchers registered in {processes} processes on {keys} keys");

                // The burst, with stale copies of old versions fired at the watchers at the same time.
                var watch = Stopwatch.StartNew();
                using var chaos = new CancellationTokenSource();
                var staleSender = SendStaleAsync(sourceBus, sourceProvider.GetService<IWatchDeliveryTransport>(), fleet, keys, chaos.Token);
                var results = await Task.WhenAll(Enumerable.Range(0, keys).Select(async k =>
                {
                    long notified = 0;
                    for (var c = 2; c <= changes + 1; c++)
                        notified += (await source.Set(Key(k), new BenchSetting(Key(k), c), cancellationToken)).Notified;
                    return notified;
                }));
                var expected = (long)changes * Enumerable.Range(0, keys).Sum(k => processes * Enumerable.Range(0, WatchersPerProcess).Count(j => Watched(j, keys).Contains(Key(k))));
                var latest = await LatestAsync(source, keys);
                await WaitUntil(() => Converged(fleet, latest, keys), TimeSpan.FromSeconds(90), "every watcher holds the latest versions");
                var burstConverged = watch.Elapsed;
                await chaos.CancelAsync();
                var staleSent = await staleSender;
                context.Progress($"burst: {keys * changes} changes, {results.Sum()} of {expected} notifications, converged in {burstConverged.TotalMilliseconds:0} ms; {staleSent} stale copies sent");

                // A fifth of the processes stop without unregistering; every key changes once more.
                var gone = fleet.Take(stopped).ToList();
                foreach (var process in gone)
                    await StopProcessAsync(process);
                var live = fleet.Skip(stopped).ToList();
                watch.Restart();
                long pruned = 0;
                foreach (var r in await Task.WhenAll(Enumerable.Range(0, keys).Select(k => source.Set(Key(k), new BenchSetting(Key(k), changes + 2), cancellationToken))))
                    pruned += r.Pruned;
                var goneIds = gone.SelectMany(p => p.Watchers.Select(w => w.WatcherId)).ToHashSet();
                await WaitUntil(async () => (await RegisteredAsync(store, endpoint, keys)).Overlaps(goneIds) == false, lease * 3, "the stopped watchers are pruned");
                var pruneTime = watch.Elapsed;
                var prunedTotal = goneIds.Count;
                context.Progress($"{stopped} processes stopped: {prunedTotal} watchers pruned in {pruneTime.TotalMilliseconds:0} ms ({pruned} as unreachable, the rest by lease {lease.TotalSeconds:0} s)");
                latest = await LatestAsync(source, keys);
                await WaitUntil(() => Converged(live, latest, keys), TimeSpan.FromSeconds(60), "the live watchers converge");

                // They start again: the registration reply carries the current values.
                var restartedCurrent = 0;
                for (var p = 0; p < stopped; p++)
                {
                    var again = await StartProcessAsync(context, sourceProvider, endpoint, ids[p], keys, renew, tracker, cancellationToken);
                    fleet[p] = again;
                    restartedCurrent += again.Watchers.Select((w, j) => (w, j)).Count(x => Watched(x.j, keys).All(k => x.w.TryGetValue(k, out var e) && e.Version == latest[Index(k)]));
                }
                var watchers = (await RegisteredAsync(store, endpoint, keys)).Count;
                context.Progress($"restarted: {restartedCurrent} of {stopped * WatchersPerProcess} watchers held the current values at registration; {watchers} registered");

                return new BenchResult(Name, context.Transport)
                    .Parameter("processes", processes)
                    .Parameter("watchers_per_process", WatchersPerProcess)
                    .Parameter("keys", keys)
                    .Parameter("changes_per_key", changes)
                    .Parameter("stopped_processes", stopped)
                    .Parameter("lease_s", lease.TotalSeconds)
                    .Parameter("fan_out_concurrency", 32)
                    .Parameter("store", rabbit ? "ef-postgresql" : "ef-sqlite")
                    .Metric("converge_p99_ms", tracker.Converge.GetValueAtPercentile(99) / 1000.0)
                    .Metric("converge_p50_ms", tracker.Converge.GetValueAtPercentile(50) / 1000.0)
                    .Metric("burst_converge_ms", burstConverged.TotalMilliseconds)
                    .Metric("watchers", watchers)
                    .Metric("notifications", results.Sum())
                    .Metric("notifications_missed", expected - results.Sum())
                    .Metric("stale_sent", staleSent)
                    .Metric("stale_applied", Interlocked.Read(ref tracker.StaleApplied))
                    .Metric("pruned", prunedTotal)
                    .Metric("pruned_unreachable", pruned)
                    .Metric("prune_ms", pruneTime.TotalMilliseconds)
                    .Metric("restarted_current", restartedCurrent);
            }
            finally
            {
                foreach (var process in fleet)
                    await StopProcessAsync(process);
                await sourceBus.StopAsync(CancellationToken.None);
                if (rabbit)
                    await RabbitCleanup.DeleteEndpointsAsync([endpoint]);
            }
        }

        static string Key(int k) => $"bench/{k}";

        static int Index(string key) => int.Parse(key[6..], System.Globalization.CultureInfo.InvariantCulture);

        static IEnumerable<string> Watched(int index, int keys) =>
            index % 2 == 0 ? [Key(index % keys), Key((index + 1) % keys)] : Enumerable.Range(0, keys).Select(Key);

        static async Task<WatcherProcess> StartProcessAsync(BenchContext context, IServiceProvider sourceProvider, string endpoint, Guid[] ids, int keys,
            TimeSpan renew, Tracker tracker, CancellationToken cancellationToken)
        {
            var process = new WatcherProcess();
            IWatcherFactory<BenchSetting> factory;
            if (context.Transport == BenchContext.RabbitMq)
            {
                var services = new ServiceCollection().AddMetrics().AddWatcherFactory<BenchSetting>();
                services.AddMassTransit(x => context.UseTransport(x));
                process.Provider = services.BuildServiceProvider(true);
                process.Bus = process.Provider.GetRequiredService<IBusControl>();
                await process.Bus.StartAsync(cancellationToken);
                factory = process.Provider.GetRequiredService<IWatcherFactory<BenchSetting>>();
            }
            else
                factory = sourceProvider.GetRequiredService<IWatcherFactory<BenchSetting>>();

            for (var j = 0; j < ids.Length; j++)
            {
                var index = j;
                var watcher = await factory.Watch(o =>
                {
                    o.WatcherId = ids[index];
                    o.SourceAddress = new Uri($"exchange:{endpoint}");
                    o.RenewInterval = renew;
                    o.UnregisterOnStop = false;
                    if (index % 2 == 0)
                        o.Keys.AddRange(Watched(index, keys));
                    else
                        o.Prefixes.Add("bench/");
                }, cancellationToken);
                tracker.Track(watcher);
                process.Watchers.Add(watcher);
            }
            return process;
        }

        static async Task StopProcessAsync(WatcherProcess process)
        {
            if (process.Bus is { } bus)
            {
                process.Bus = null;
                await bus.StopAsync(CancellationToken.None);
                await process.Provider!.DisposeAsync();
            }
            else
                foreach (var watcher in process.Watchers)
                    await watcher.DisposeAsync();
        }

        /// <summary>Fires copies of old versions (1..3) at random watchers until cancelled, as a late or duplicated delivery would.</summary>
        static async Task<long> SendStaleAsync(IBus bus, IWatchDeliveryTransport? route, List<WatcherProcess> fleet, int keys, CancellationToken cancellationToken)
        {
            var watchers = fleet.SelectMany(p => p.Watchers.Select((w, j) => (w, j))).ToList();
            long sent = 0;
            try
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    var (watcher, index) = watchers[Random.Shared.Next(watchers.Count)];
                    var key = Watched(index, keys).First();
                    var version = Random.Shared.Next(1, 4);
                    var message = new WatchChanged<BenchSetting>
                    {
                        WatcherId = watcher.WatcherId,
                        Entry = new WatchEntry<BenchSetting> { Key = key, Version = version, Value = new BenchSetting(key, version), ChangedAt = DateTimeOffset.UtcNow }
                    };
                    var endpoint = await bus.GetSendEndpoint(route?.DeliveryAddress(watcher.Address!) ?? watcher.Address!);
                    await endpoint.Send(message, c => route?.Prepare(c, watcher.Address!), cancellationToken);
                    sent++;
                    await Task.Delay(2, cancellationToken);
                }
            }
            catch (OperationCanceledException)
            {
            }
            return sent;
        }

        static async Task<long[]> LatestAsync(IWatchSource<BenchSetting> source, int keys) =>
            await Task.WhenAll(Enumerable.Range(0, keys).Select(async k => (await source.Get(Key(k)))?.Version ?? 0));

        static bool Converged(IEnumerable<WatcherProcess> fleet, long[] latest, int keys) =>
            fleet.All(p => p.Watchers.Select((w, j) => (w, j)).All(x =>
                Watched(x.j, keys).All(k => x.w.TryGetValue(k, out var e) && e.Version == latest[Index(k)] && e.Value.Revision == e.Version)));

        static async Task<HashSet<Guid>> RegisteredAsync(IWatchStore store, string source, int keys)
        {
            var ids = new HashSet<Guid>();
            for (var k = 0; k < keys; k++)
                foreach (var w in await store.WatchersOfAsync(source, Key(k), DateTime.UtcNow))
                    ids.Add(w.WatcherId);
            return ids;
        }

        static Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what) => WaitUntil(() => Task.FromResult(condition()), timeout, what);

        static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!await condition())
            {
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"timed out waiting for: {what}");
                await Task.Delay(10);
            }
        }
    }

    public sealed class WatchBenchDb(DbContextOptions<WatchBenchDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWatchEntities();
    }
}

namespace MassTransit.Patterns.Benchmarks.Scenarios.WatchMessages
{
    /// <summary>The watched value of the benchmark.</summary>
    public sealed record BenchSetting(string Key, int Revision);
}
