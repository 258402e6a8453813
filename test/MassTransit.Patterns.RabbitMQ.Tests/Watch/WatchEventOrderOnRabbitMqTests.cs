using MassTransit.Patterns.RabbitMQ.Watch;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Watch.Messages
{
    public sealed record RateLimit(string Key, int Writer, int Sequence);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Watch
{
    using Messages;

    /// <summary>
    /// Changed in version order on the real broker: the watcher's instance endpoint consumes its notifications
    /// concurrently (one per prefetched message), and a handler that applies each value must still end on the latest.
    /// </summary>
    public sealed class WatchEventOrderOnRabbitMqTests(ITestOutputHelper output)
    {
        const int Writers = 8, ChangesPerWriter = 125, Changes = Writers * ChangesPerWriter;
        const string Key = "limits/api";
        static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

        static async Task<(ServiceProvider Provider, IBusControl Bus)> StartAsync(Action<IServiceCollection> services, Action<IBusRegistrationConfigurator>? registration = null)
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
            await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            return (provider, bus);
        }

        /// <summary>What a user's handler did: each value it applied (1 ms of work each), in the order it applied them.</summary>
        sealed class Applier
        {
            readonly Lock _lock = new();
            readonly List<WatchEntry<RateLimit>> _applied = [];
            int _running;
            int _overlaps;

            public int Overlaps => Volatile.Read(ref _overlaps);

            public void Handle(object? sender, WatchEntry<RateLimit> e)
            {
                if (Interlocked.Increment(ref _running) > 1)
                    Interlocked.Increment(ref _overlaps);
                Thread.Sleep(1);    // the handler's own work, not a wait for an outcome
                lock (_lock)
                    _applied.Add(e);
                Interlocked.Decrement(ref _running);
            }

            public WatchEntry<RateLimit>[] Applied
            {
                get
                {
                    lock (_lock)
                        return [.. _applied];
                }
            }
        }

        [Fact]
        public async Task A_thousand_rapid_changes_from_eight_writers_reach_a_slow_handler_in_version_order_ending_on_the_last_version()
        {
            var endpoint = Broker.UniqueQueue("watch-order");
            var (sourceProvider, sourceBus) = await StartAsync(s => s.AddRabbitMqWatchDelivery(), x => x.AddWatchSource<RateLimit>(o =>
            {
                o.Name = endpoint;
                o.EndpointName = endpoint;
                o.LeaseDuration = TimeSpan.FromMinutes(10);     // no renewal during the test: every notification is counted once
            }));
            (ServiceProvider Provider, IBusControl Bus)? watcherProcess = null;
            try
            {
                watcherProcess = await StartAsync(s => s.AddWatcherFactory<RateLimit>());
                var factory = watcherProcess.Value.Provider.GetRequiredService<IWatcherFactory<RateLimit>>();
                await using var watcher = await factory.Watch(o =>
                {
                    o.Keys.Add(Key);
                    o.SourceAddress = new Uri($"exchange:{endpoint}");
                    o.RenewInterval = TimeSpan.FromMinutes(5);
                }, new CancellationTokenSource(Wait).Token);
                var applier = new Applier();
                watcher.Changed += applier.Handle;

                var source = sourceProvider.GetRequiredService<IWatchSource<RateLimit>>();
                var results = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
                {
                    var sets = new List<WatchSetResult>(ChangesPerWriter);
                    for (var i = 0; i < ChangesPerWriter; i++)
                        sets.Add(await source.Set(Key, new RateLimit(Key, w, i)));
                    return sets;
                }))).WaitAsync(Wait);
                var sets = results.SelectMany(r => r).ToArray();
                var last = await source.Get(Key);

                // Every change was stored once and sent to the one watcher.
                Assert.Equal(Enumerable.Range(1, Changes).Select(v => (long)v), sets.Select(s => s.Version).Order());
                Assert.Equal(Changes, sets.Sum(s => s.Notified));
                Assert.Equal(0, sets.Sum(s => s.Failed));
                Assert.Equal(Changes, last!.Version);

                // Every notification arrived: applied, or ignored as older than one already applied.
                await Eventually.True(() => watcher.Applied + watcher.StaleIgnored == Changes, Wait,
                    $"all {Changes} notifications handled");
                var reached = true;
                try
                {
                    await Eventually.True(() => applier.Applied is [.., var e] && e.Version == Changes, TimeSpan.FromSeconds(10), "the handler reached the last version");
                }
                catch (TimeoutException)
                {
                    reached = false;
                }
                var applied = applier.Applied;
                var versions = applied.Select(e => e.Version).ToArray();
                var backwards = versions.Zip(versions.Skip(1)).Count(p => p.First >= p.Second);
                output.WriteLine($"{Changes} changes: {watcher.Applied} applied, {watcher.StaleIgnored} stale, {applied.Length} handler calls, {backwards} backwards, "
                    + $"{applier.Overlaps} overlapping calls, the handler's last version {versions.LastOrDefault()}");

                Assert.True(reached, $"the handler's last value is version {versions.LastOrDefault()}, not {Changes} ({backwards} calls went backwards)");
                Assert.True(backwards == 0, $"{backwards} handler calls at or below a version already raised: {string.Join(",", versions)}");
                Assert.Equal(0, applier.Overlaps);
                Assert.Equal(last.Value, applied[^1].Value);
                Assert.Equal(last.Value, watcher.Values[Key].Value);
                Assert.Equal(Changes, watcher.Values[Key].Version);
            }
            finally
            {
                if (watcherProcess is { } process)
                {
                    await process.Bus.StopAsync();
                    await process.Provider.DisposeAsync();
                }
                await sourceBus.StopAsync();
                await sourceProvider.DisposeAsync();
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                foreach (var name in new[] { endpoint, endpoint + "_error", endpoint + "_skipped" })
                {
                    await using var channel = await connection.CreateChannelAsync();
                    await channel.QueueDeleteAsync(name);
                    await channel.ExchangeDeleteAsync(name);
                }
            }
        }
    }
}
