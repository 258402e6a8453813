using System.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Watch;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Watch;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Watch;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Watch.Messages
{
    public sealed record ServiceSetting(string Key, int Revision);

    public sealed record HostedSetting(string Key, int Revision);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Watch
{
    using Messages;

    /// <summary>Change notifications (<see cref="WatchChanged{TValue}"/>) consumed on the buses it observes.</summary>
    public sealed class WatchChangedCounter : IConsumeObserver
    {
        long _count;

        public long Count => Interlocked.Read(ref _count);

        public Task PreConsume<T>(ConsumeContext<T> context) where T : class => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context) where T : class
        {
            if (typeof(T).IsGenericType && typeof(T).GetGenericTypeDefinition() == typeof(WatchChanged<>))
                Interlocked.Increment(ref _count);
            return Task.CompletedTask;
        }

        public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception) where T : class => Task.CompletedTask;
    }

    public sealed class WatchRabbitDb(DbContextOptions<WatchRabbitDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWatchEntities();
    }

    /// <summary>
    /// Watch notification on the real broker: a source process and five watcher processes (separate buses,
    /// each with its own instance queue) hosting ten watchers each.
    /// </summary>
    public sealed class WatchOnRabbitMqTests(ITestOutputHelper output)
    {
        const int Processes = 5, WatchersPerProcess = 10, Keys = 5, ChangesPerKey = 10;
        static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);
        static readonly TimeSpan Converge = TimeSpan.FromSeconds(45);

        static string Key(int i) => $"svc/{i}";

        /// <summary>One "process": its own container and bus on the broker.</summary>
        sealed class Process : IAsyncDisposable
        {
            public required ServiceProvider Provider { get; init; }
            public required IBusControl Bus { get; init; }
            public List<IWatcher<ServiceSetting>> Watchers { get; } = [];
            bool _stopped;

            public static async Task<Process> StartAsync(Action<IServiceCollection> services, Action<IBusRegistrationConfigurator>? registration = null,
                IConsumeObserver? observer = null)
            {
                var collection = new ServiceCollection();
                services(collection);
                collection.AddMassTransit(x =>
                {
                    registration?.Invoke(x);
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                        cfg.ConfigureEndpoints(context);
                    });
                });
                var provider = collection.BuildServiceProvider(true);
                var bus = provider.GetRequiredService<IBusControl>();
                if (observer is not null)
                    bus.ConnectConsumeObserver(observer);
                await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
                return new Process { Provider = provider, Bus = bus };
            }

            public async Task StopAsync()
            {
                if (_stopped)
                    return;
                _stopped = true;
                await Bus.StopAsync();
            }

            public async ValueTask DisposeAsync()
            {
                await StopAsync();
                await Provider.DisposeAsync();
            }
        }

        int _backwards;

        /// <summary>Change notifications the watcher processes consumed.</summary>
        readonly WatchChangedCounter _notifications = new();

        /// <summary>Every change notification the source delivered was consumed by a watcher process; nothing in the source's queues.</summary>
        Task AssertNotificationsAccountedAsync(long delivered, string sourceQueue) =>
            new MessageAccount()
                .Sent(delivered, "change notifications the source delivered")
                .Place("consumed by the watcher processes", () => _notifications.Count, Expect.Exactly(delivered))
                .Endpoint(sourceQueue, Expect.Empty)
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));

        /// <summary>Counts every Changed event whose version is not above the last one the watcher raised for that key.</summary>
        void Track(IWatcher<ServiceSetting> watcher)
        {
            var last = new Dictionary<string, long>(watcher.Values.ToDictionary(v => v.Key, v => v.Value.Version));
            watcher.Changed += (_, e) =>
            {
                lock (last)
                {
                    if (last.TryGetValue(e.Key, out var previous) && previous >= e.Version)
                        Interlocked.Increment(ref _backwards);
                    last[e.Key] = e.Version;
                }
            };
        }

        async Task<Process> StartWatchersAsync(Uri source, Guid[] ids, string? onlyKey = null)
        {
            var process = await Process.StartAsync(s => s.AddWatcherFactory<ServiceSetting>(), observer: _notifications);
            var factory = process.Provider.GetRequiredService<IWatcherFactory<ServiceSetting>>();
            for (var j = 0; j < ids.Length; j++)
            {
                var index = j;
                process.Watchers.Add(await factory.Watch(o =>
                {
                    o.WatcherId = ids[index];
                    o.SourceAddress = source;
                    o.UnregisterOnStop = false;     // a stopped process behaves as a crashed one: it does not say goodbye
                    if (onlyKey is not null)
                        o.Keys.Add(onlyKey);
                    else if (index % 2 == 0)
                    {
                        o.Keys.Add(Key(index % Keys));
                        o.Keys.Add(Key((index + 1) % Keys));
                    }
                    else
                        o.Prefixes.Add("svc/");
                }, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token));
                Track(process.Watchers[^1]);
            }
            return process;
        }

        static IEnumerable<string> Watched(int index) => index % 2 == 0 ? [Key(index % Keys), Key((index + 1) % Keys)] : Enumerable.Range(0, Keys).Select(Key);

        static async Task<long[]> LatestAsync(IWatchSource<ServiceSetting> source) =>
            await Task.WhenAll(Enumerable.Range(0, Keys).Select(async i => (await source.Get(Key(i)))?.Version ?? 0));

        static bool Converged(IEnumerable<Process> processes, long[] latest) =>
            processes.All(p => p.Watchers.Select((w, j) => (w, j)).All(x =>
                Watched(x.j).All(k => x.w.TryGetValue(k, out var e) && e.Version == latest[int.Parse(k[4..], System.Globalization.CultureInfo.InvariantCulture)]
                    && e.Value.Revision == e.Version)));

        [Fact]
        public async Task Fifty_watchers_converge_after_a_burst_a_stopped_process_is_pruned_and_a_restarted_one_gets_the_current_value()
        {
            var endpoint = Broker.UniqueQueue("watch-source");
            var sourceAddress = new Uri($"exchange:{endpoint}");
            var deadExchanges = new List<string>();
            var processes = new List<Process>();
            await using var sourceProcess = await Process.StartAsync(s => s.AddRabbitMqWatchDelivery(), x => x.AddWatchSource<ServiceSetting>(o =>
            {
                o.Name = endpoint;
                o.EndpointName = endpoint;
                o.LeaseDuration = Lease;
                o.SweepInterval = TimeSpan.FromSeconds(30);
                o.DeliveryAttempts = 3;
                o.RetryInterval = TimeSpan.FromMilliseconds(50);
                o.FanOutConcurrency = 16;
            }));
            try
            {
                var source = sourceProcess.Provider.GetRequiredService<IWatchSource<ServiceSetting>>();
                var ids = Enumerable.Range(0, Processes).Select(_ => Enumerable.Range(0, WatchersPerProcess).Select(_ => Guid.NewGuid()).ToArray()).ToArray();
                for (var i = 0; i < Keys; i++)
                    await source.Set(Key(i), new ServiceSetting(Key(i), 1));
                for (var p = 0; p < Processes; p++)
                    processes.Add(await StartWatchersAsync(sourceAddress, ids[p]));
                Assert.True(Converged(processes, await LatestAsync(source)), "every watcher holds the current value once registered");

                // The burst: every key changes ChangesPerKey times, keys in parallel.
                var burst = Stopwatch.StartNew();
                var results = await Task.WhenAll(Enumerable.Range(0, Keys).Select(async i =>
                {
                    var sets = new List<WatchSetResult>();
                    for (var c = 2; c <= ChangesPerKey + 1; c++)
                        sets.Add(await source.Set(Key(i), new ServiceSetting(Key(i), c)));
                    return sets;
                }));
                var latest = await LatestAsync(source);
                Assert.All(latest, v => Assert.Equal(ChangesPerKey + 1, v));
                await Eventually.True(() => Converged(processes, latest), Converge, "every live watcher holds the latest version of each key");
                var notified = results.SelectMany(r => r).Sum(r => r.Notified);
                output.WriteLine($"burst: {Keys * ChangesPerKey} changes, {notified} notifications, converged in {burst.ElapsedMilliseconds} ms");
                Assert.Equal(0, results.SelectMany(r => r).Sum(r => r.Failed));

                // Process 2 stops without unregistering: its instance queue disappears with it.
                var stopped = processes[2];
                deadExchanges.Add(stopped.Watchers[0].Address!.AbsolutePath.TrimEnd('/').Split('/')[^1]);
                await stopped.StopAsync();
                processes.RemoveAt(2);
                var prune = Stopwatch.StartNew();
                var afterStop = await Task.WhenAll(Enumerable.Range(0, Keys).Select(i => source.Set(Key(i), new ServiceSetting(Key(i), ChangesPerKey + 2))));
                var pruned = afterStop.Sum(r => r.Pruned);
                output.WriteLine($"stopped process: {pruned} watchers pruned in {prune.ElapsedMilliseconds} ms (lease {Lease})");
                Assert.Equal(WatchersPerProcess, pruned);
                Assert.True(prune.Elapsed < Lease, "pruned as unreachable, not by lease expiry");
                var registered = new HashSet<Guid>();
                foreach (var k in Enumerable.Range(0, Keys))
                {
                    var store = sourceProcess.Provider.GetRequiredService<IWatchStore>();
                    foreach (var w in await store.WatchersOfAsync(source.Name, Key(k), DateTime.UtcNow))
                        registered.Add(w.WatcherId);
                }
                Assert.Empty(registered.Intersect(ids[2]));
                Assert.True(await EntityExistsAsync(endpoint), "the probe sees the source's own queue");
                Assert.False(await EntityExistsAsync(deadExchanges[0]), "notifications to the dead watchers declared nothing: their queue and exchange stay gone");
                Assert.Equal((Processes - 1) * WatchersPerProcess, registered.Count);
                latest = await LatestAsync(source);
                await Eventually.True(() => Converged(processes, latest), Converge, "the live watchers converge after the stop");

                // Process 2 starts again (same watcher ids, a new instance queue): registration returns the current values.
                var restarted = await StartWatchersAsync(sourceAddress, ids[2]);
                processes.Add(restarted);
                Assert.True(Converged([restarted], latest), "the restarted watchers hold the current value as soon as they are registered");
                var final = await Task.WhenAll(Enumerable.Range(0, Keys).Select(i => source.Set(Key(i), new ServiceSetting(Key(i), ChangesPerKey + 3))));
                Assert.Equal(0, final.Sum(r => r.Failed));
                latest = await LatestAsync(source);
                await Eventually.True(() => Converged(processes, latest), Converge, "all fifty watchers converge on the next change");
                Assert.Equal(Processes * WatchersPerProcess, processes.Sum(p => p.Watchers.Count));
                Assert.Equal(0, Volatile.Read(ref _backwards));
                await AssertNotificationsAccountedAsync(results.SelectMany(r => r).Concat(afterStop).Concat(final).Sum(r => r.Notified), endpoint);
            }
            finally
            {
                foreach (var process in processes)
                    await process.DisposeAsync();
                await sourceProcess.StopAsync();
                await DeleteAsync(endpoint, deadExchanges);
            }
        }

        /// <summary>Whether a queue or an exchange of that name exists (passive declares, each on its own channel: a miss closes it).</summary>
        static async Task<bool> EntityExistsAsync(string name)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            var exists = false;
            foreach (var declare in new Func<IChannel, Task>[] { c => c.QueueDeclarePassiveAsync(name), c => c.ExchangeDeclarePassiveAsync(name) })
            {
                await using var channel = await connection.CreateChannelAsync();
                try
                {
                    await declare(channel);
                    exists = true;
                }
                catch (global::RabbitMQ.Client.Exceptions.OperationInterruptedException)
                {
                }
            }
            return exists;
        }

        [Fact]
        public async Task A_hosted_watcher_registers_by_publish_follows_changes_and_a_clean_stop_unregisters_it()
        {
            var endpoint = Broker.UniqueQueue("watch-hosted");
            await using var sourceProcess = await Process.StartAsync(s => s.AddRabbitMqWatchDelivery(), x => x.AddWatchSource<HostedSetting>(o =>
            {
                o.Name = endpoint;
                o.EndpointName = endpoint;
            }));
            try
            {
                var source = sourceProcess.Provider.GetRequiredService<IWatchSource<HostedSetting>>();
                var sets = new List<WatchSetResult> { await source.Set("cfg/a", new HostedSetting("cfg/a", 1)) };
                var watcherProcess = await Process.StartAsync(s => s.AddWatcher<HostedSetting>(o => o.Prefixes.Add("cfg/")), observer: _notifications);
                await using (watcherProcess)
                {
                    var watcher = watcherProcess.Provider.GetRequiredService<IWatcher<HostedSetting>>();
                    await watcher.Registered.WaitAsync(TimeSpan.FromSeconds(30));
                    Assert.Equal(1, watcher.Values["cfg/a"].Version);

                    sets.Add(await source.Set("cfg/b", new HostedSetting("cfg/b", 1)));
                    sets.Add(await source.Set("cfg/a", new HostedSetting("cfg/a", 2)));
                    await Eventually.True(() => watcher.Values.Count == 2 && watcher.Values["cfg/a"].Version == 2, Converge, "the hosted watcher follows both keys");

                    await watcherProcess.StopAsync();
                }

                var store = sourceProcess.Provider.GetRequiredService<IWatchStore>();
                await Eventually.True(async () => (await store.WatchersOfAsync(source.Name, "cfg/a", DateTime.UtcNow)).Count == 0, Converge,
                    "the watcher's clean stop cancelled its registration");
                var after = await source.Set("cfg/a", new HostedSetting("cfg/a", 3));
                Assert.Equal((0, 0), (after.Watchers, after.Pruned));
                await AssertNotificationsAccountedAsync(sets.Append(after).Sum(r => r.Notified), endpoint);
            }
            finally
            {
                await sourceProcess.StopAsync();
                await DeleteAsync(endpoint, []);
            }
        }

        [Fact]
        public async Task Two_source_instances_sharing_a_PostgreSQL_store_give_one_version_sequence_and_either_one_notifies_every_watcher()
        {
            const int ChangesPerSource = 15;
            var endpoint = Broker.UniqueQueue("watch-shared");
            var connection = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
            { Database = $"watch_mq_{Guid.NewGuid():N}"[..20], MaxPoolSize = 30 }.ConnectionString;
            void Store(IServiceCollection s) => s.AddDbContext<WatchRabbitDb>(o => o.UseNpgsql(connection)).AddEntityFrameworkWatchStore<WatchRabbitDb>().AddRabbitMqWatchDelivery();
            await using (var db = new WatchRabbitDb(new DbContextOptionsBuilder<WatchRabbitDb>().UseNpgsql(connection).Options))
                await db.Database.EnsureCreatedAsync();

            Action<IBusRegistrationConfigurator> source = x => x.AddWatchSource<ServiceSetting>(o =>
            {
                o.Name = endpoint;
                o.EndpointName = endpoint;       // both instances consume the one registration queue
            });
            var a = await Process.StartAsync(Store, source);
            var b = await Process.StartAsync(Store, source);
            Process? watchers = null;
            try
            {
                var sourceA = a.Provider.GetRequiredService<IWatchSource<ServiceSetting>>();
                var sourceB = b.Provider.GetRequiredService<IWatchSource<ServiceSetting>>();
                var delivered = new long[] { (await sourceA.Set("svc/shared", new ServiceSetting("svc/shared", 0))).Notified };
                watchers = await StartWatchersAsync(new Uri($"exchange:{endpoint}"), Enumerable.Range(0, WatchersPerProcess).Select(_ => Guid.NewGuid()).ToArray(),
                    "svc/shared");

                // Both instances change the one key at once: each change gets its own version, and whichever
                // instance stored a version notifies every watcher, wherever it registered.
                async Task<List<long>> Burst(IWatchSource<ServiceSetting> instance, int offset)
                {
                    var versions = new List<long>();
                    for (var i = 1; i <= ChangesPerSource; i++)
                    {
                        var set = await instance.Set("svc/shared", new ServiceSetting("svc/shared", offset + i));
                        Interlocked.Add(ref delivered[0], set.Notified);
                        versions.Add(set.Version);
                    }
                    return versions;
                }
                var both = await Task.WhenAll(Burst(sourceA, 1000), Burst(sourceB, 2000));
                Assert.Equal(Enumerable.Range(2, 2 * ChangesPerSource).Select(v => (long)v), both.SelectMany(v => v).Order());
                var latest = (await sourceB.Get("svc/shared"))!;
                await Eventually.True(() => watchers.Watchers.All(w => w.TryGetValue("svc/shared", out var e) && e.Version == latest.Version && e.Value == latest.Value),
                    Converge, "every watcher holds the last version, whichever instance stored it");

                // Instance A stops; B carries on from the same sequence and reaches everyone.
                await a.StopAsync();
                var next = await sourceB.Set("svc/shared", new ServiceSetting("svc/shared", 3000));
                Assert.Equal(latest.Version + 1, next.Version);
                Assert.Equal(WatchersPerProcess, next.Notified);
                await Eventually.True(() => watchers.Watchers.All(w => w.Values["svc/shared"].Version == next.Version), Converge, "B alone notifies every watcher");
                Assert.Equal(0, Volatile.Read(ref _backwards));
                await AssertNotificationsAccountedAsync(Interlocked.Read(ref delivered[0]) + next.Notified, endpoint);
            }
            finally
            {
                if (watchers is not null)
                    await watchers.DisposeAsync();
                await a.DisposeAsync();
                await b.DisposeAsync();
                await DeleteAsync(endpoint, []);
                await using var db = new WatchRabbitDb(new DbContextOptionsBuilder<WatchRabbitDb>().UseNpgsql(connection).Options);
                await db.Database.EnsureDeletedAsync();
            }
        }

        static async Task DeleteAsync(string endpoint, IEnumerable<string> exchanges)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            foreach (var name in new[] { endpoint, endpoint + "_error", endpoint + "_skipped" })
            {
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(name);
                await channel.ExchangeDeleteAsync(name);
            }
            // Should a run fail half-way, nothing of the stopped process's instance endpoint is left behind.
            foreach (var name in exchanges)
            {
                await using var channel = await connection.CreateChannelAsync();
                await channel.ExchangeDeleteAsync(name);
            }
        }
    }
}
