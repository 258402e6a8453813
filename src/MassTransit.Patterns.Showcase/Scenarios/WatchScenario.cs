using System.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Watch;
using MassTransit.Patterns.RabbitMQ.Watch;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Messages.Watch;
using MassTransit.Patterns.Watch;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Messages.Watch
{
    /// <summary>A feature flag: the watched value.</summary>
    public sealed record FeatureFlag(string Name, bool Enabled, int Revision);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    /// <summary>The watch source's own small database (SQLite, created on start): values, versions and the watcher registry.</summary>
    public sealed class WatchShowcaseDb(DbContextOptions<WatchShowcaseDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWatchEntities();
    }

    /// <summary>
    /// Watch notification: a configuration service owns three feature flags (EF Core store on SQLite); three
    /// services host four watchers each. Registration returns the current flags, a burst of changes reaches
    /// everyone, stale copies change nothing, a service that dies is pruned, a restarted one catches up, and
    /// versions continue after the configuration service restarts.
    /// </summary>
    public sealed class WatchScenario : IShowcaseScenario
    {
        static readonly string[] Flags = ["flags/checkout", "flags/search", "flags/banner"];
        const int Services = 3, WatchersPerService = 4;

        public string Name => "watch";

        public string Description => "Feature flags watched by 12 watchers in 3 services: current value on registration, every change pushed with a version, dead watchers pruned.";

        sealed class Service
        {
            public ServiceProvider? Provider;
            public IBusControl? Bus;
            public readonly List<IWatcher<FeatureFlag>> Watchers = [];
        }

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var rabbit = context.Options.Transport == ShowcaseOptions.RabbitMq;
            var changes = context.Quick ? 15 : 60;
            var lease = rabbit ? TimeSpan.FromMinutes(1) : TimeSpan.FromSeconds(2);
            var endpoint = $"showcase-flags-{Guid.NewGuid():N}"[..24];
            var sqlite = context.SqliteConnectionString("watch-" + endpoint);
            var table = new ResultTable("watch: feature flags pushed to their watchers");

            await using (var db = new WatchShowcaseDb(new DbContextOptionsBuilder<WatchShowcaseDb>().UseSqlite(sqlite).Options))
                await db.Database.EnsureCreatedAsync(cancellationToken);

            var (sourceProvider, sourceBus) = await StartSourceAsync(context, sqlite, endpoint, lease, cancellationToken);
            var services = new List<Service>();
            long lastVersion;
            try
            {
                var source = sourceProvider.GetRequiredService<IWatchSource<FeatureFlag>>();
                foreach (var flag in Flags)
                    await source.Set(flag, new FeatureFlag(flag, false, 1), cancellationToken);

                var ids = Enumerable.Range(0, Services).Select(_ => Enumerable.Range(0, WatchersPerService).Select(_ => Guid.NewGuid()).ToArray()).ToArray();
                for (var s = 0; s < Services; s++)
                    services.Add(await StartServiceAsync(context, sourceProvider, endpoint, ids[s], cancellationToken));
                table.Add("watchers", services.Sum(s => s.Watchers.Count));
                table.Check("registration returns the current value", await AllCurrentAsync(services, source));

                Console.Error.WriteLine($"  {changes} flag changes, pushed to every watcher of each flag");
                var latencies = new List<double>();
                foreach (var watcher in services.SelectMany(s => s.Watchers))
                    watcher.Changed += (_, e) =>
                    {
                        lock (latencies)
                            latencies.Add((DateTimeOffset.UtcNow - e.ChangedAt).TotalMilliseconds);
                    };
                long notified = 0;
                var clock = Stopwatch.StartNew();
                await Task.WhenAll(Flags.Select(async flag =>
                {
                    for (var c = 2; c <= changes / Flags.Length + 1; c++)
                        Interlocked.Add(ref notified, (await source.Set(flag, new FeatureFlag(flag, c % 2 == 0, c), cancellationToken)).Notified);
                }));
                await WaitAsync(() => AllCurrentAsync(services, source), TimeSpan.FromSeconds(60));
                table.Add("changes", changes / Flags.Length * Flags.Length).Add("notifications sent", notified)
                    .Add("all converged after (ms)", clock.Elapsed.TotalMilliseconds);
                lock (latencies)
                    table.Add("store to watcher p99 (ms)", latencies.Order().ElementAt((int)Math.Ceiling(0.99 * latencies.Count) - 1));
                table.Check("every watcher converges on the latest version", await AllCurrentAsync(services, source));

                // Late copies of version 1 arrive at every watcher: a version rule, not arrival order, decides.
                var stale = services.SelectMany(s => s.Watchers).Sum(w => w.StaleIgnored);
                var route = sourceProvider.GetService<IWatchDeliveryTransport>();   // on RabbitMQ: straight to the watcher's queue, as the source sends
                foreach (var watcher in services.SelectMany(s => s.Watchers))
                {
                    var send = await sourceBus.GetSendEndpoint(route?.DeliveryAddress(watcher.Address!) ?? watcher.Address!);
                    await send.Send(new WatchChanged<FeatureFlag>
                    {
                        WatcherId = watcher.WatcherId,
                        Entry = new WatchEntry<FeatureFlag> { Key = Flags[0], Version = 1, Value = new FeatureFlag(Flags[0], false, 1), ChangedAt = DateTimeOffset.UtcNow }
                    }, c => route?.Prepare(c, watcher.Address!), cancellationToken);
                }
                await WaitAsync(() => Task.FromResult(services.SelectMany(s => s.Watchers).Sum(w => w.StaleIgnored) >= stale + Services * WatchersPerService),
                    TimeSpan.FromSeconds(30));
                table.Add("stale copies ignored", services.SelectMany(s => s.Watchers).Sum(w => w.StaleIgnored) - stale);
                table.Check("a stale copy never overwrites a newer value", await AllCurrentAsync(services, source));

                // Service 3 dies without unregistering; the next change finds it gone (RabbitMQ) or its lease runs out.
                var dead = services[^1];
                await StopAsync(dead);
                clock.Restart();
                var prunedUnreachable = 0;
                foreach (var flag in Flags)
                    prunedUnreachable += (await source.Set(flag, new FeatureFlag(flag, true, 1000), cancellationToken)).Pruned;
                var store = sourceProvider.GetRequiredService<IWatchStore>();
                var deadIds = ids[^1].ToHashSet();
                await WaitAsync(async () => !(await RegisteredAsync(store, source.Name)).Overlaps(deadIds), lease * 4);
                table.Add("dead watchers pruned", deadIds.Count)
                    .Add("pruned how", prunedUnreachable == deadIds.Count ? "unreachable (mandatory send returned)" : $"lease expired ({lease.TotalSeconds:0} s)")
                    .Add("pruned after (ms)", clock.Elapsed.TotalMilliseconds);
                table.Check("a dead watcher is pruned", !(await RegisteredAsync(store, source.Name)).Overlaps(deadIds));

                services[^1] = await StartServiceAsync(context, sourceProvider, endpoint, ids[^1], cancellationToken);
                table.Check("a restarted watcher gets the current value on registration", await AllCurrentAsync([services[^1]], source));
                lastVersion = (await source.Get(Flags[0], cancellationToken))!.Version;
            }
            finally
            {
                foreach (var service in services)
                    await StopAsync(service);
                await sourceBus.StopAsync(CancellationToken.None);
            }

            // The configuration service restarts on the same database: versions go on from where they were.
            var (againProvider, againBus) = await StartSourceAsync(context, sqlite, endpoint, lease, cancellationToken);
            try
            {
                var next = await againProvider.GetRequiredService<IWatchSource<FeatureFlag>>().Set(Flags[0], new FeatureFlag(Flags[0], false, 1001), cancellationToken);
                table.Add("version before / after the source restarted", $"{lastVersion} / {next.Version}");
                table.Check("versions survive a restart of the source", next.Version == lastVersion + 1);
            }
            finally
            {
                await againBus.StopAsync(CancellationToken.None);
                await againProvider.DisposeAsync();
                // Disposed last: MassTransit keeps the first bus's logger factory as the flow's log context.
                await sourceProvider.DisposeAsync();
                if (rabbit)
                    await DeleteAsync(endpoint);
            }
            return table;
        }

        static async Task<(ServiceProvider, IBusControl)> StartSourceAsync(ShowcaseContext context, string sqlite, string endpoint, TimeSpan lease,
            CancellationToken cancellationToken)
        {
            // MassTransit logs each returned notification (S-FAULT): that is how a dead watcher is found, not an error here.
            var services = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Critical))
                .AddDbContext<WatchShowcaseDb>(o => o.UseSqlite(sqlite))
                .AddEntityFrameworkWatchStore<WatchShowcaseDb>();
            if (context.Options.Transport == ShowcaseOptions.RabbitMq)
                services.AddRabbitMqWatchDelivery();
            else
                services.AddWatcherFactory<FeatureFlag>();
            services.AddMassTransit(x =>
            {
                x.AddWatchSource<FeatureFlag>(o =>
                {
                    o.Name = "feature-flags";
                    o.EndpointName = endpoint;
                    o.LeaseDuration = lease;
                    o.SweepInterval = lease / 4;
                    o.AllowedPrefixes.Add("flags/");
                });
                context.UseTransport(x);
            });
            var provider = services.BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            return (provider, bus);
        }

        /// <summary>A service hosting four watchers: its own bus on RabbitMQ; in memory it shares the source's bus (one process).</summary>
        static async Task<Service> StartServiceAsync(ShowcaseContext context, IServiceProvider sourceProvider, string endpoint, Guid[] ids,
            CancellationToken cancellationToken)
        {
            var service = new Service();
            IWatcherFactory<FeatureFlag> factory;
            if (context.Options.Transport == ShowcaseOptions.RabbitMq)
            {
                var services = new ServiceCollection().AddMetrics().AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning)).AddWatcherFactory<FeatureFlag>();
                services.AddMassTransit(x => context.UseTransport(x));
                service.Provider = services.BuildServiceProvider(true);
                service.Bus = service.Provider.GetRequiredService<IBusControl>();
                await service.Bus.StartAsync(cancellationToken);
                factory = service.Provider.GetRequiredService<IWatcherFactory<FeatureFlag>>();
            }
            else
                factory = sourceProvider.GetRequiredService<IWatcherFactory<FeatureFlag>>();

            for (var i = 0; i < ids.Length; i++)
            {
                var index = i;
                service.Watchers.Add(await factory.Watch(o =>
                {
                    o.WatcherId = ids[index];
                    o.SourceAddress = new Uri($"exchange:{endpoint}");
                    o.UnregisterOnStop = false;   // dying services do not say goodbye
                    o.RenewInterval = TimeSpan.FromMilliseconds(500);
                    if (index % 2 == 0)
                        o.Prefixes.Add("flags/");
                    else
                        o.Keys.Add(Flags[index % Flags.Length]);
                }, cancellationToken));
            }
            return service;
        }

        static async Task StopAsync(Service service)
        {
            if (service.Bus is { } bus)
            {
                service.Bus = null;
                await bus.StopAsync(CancellationToken.None);
                await service.Provider!.DisposeAsync();
            }
            else
                foreach (var watcher in service.Watchers)
                    await watcher.DisposeAsync();
        }

        static async Task<bool> AllCurrentAsync(IEnumerable<Service> services, IWatchSource<FeatureFlag> source)
        {
            var latest = new Dictionary<string, long>();
            foreach (var flag in Flags)
                latest[flag] = (await source.Get(flag))?.Version ?? 0;
            return services.All(s => s.Watchers.Select((w, i) => (w, i)).All(x =>
                (x.i % 2 == 0 ? Flags : [Flags[x.i % Flags.Length]]).All(f => x.w.TryGetValue(f, out var e) && e.Version == latest[f])));
        }

        static async Task<HashSet<Guid>> RegisteredAsync(IWatchStore store, string source)
        {
            var ids = new HashSet<Guid>();
            foreach (var flag in Flags)
                foreach (var w in await store.WatchersOfAsync(source, flag, DateTime.UtcNow))
                    ids.Add(w.WatcherId);
            return ids;
        }

        static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!await condition() && DateTime.UtcNow < deadline)
                await Task.Delay(20);
        }

        static async Task DeleteAsync(string endpoint)
        {
            var factory = new global::RabbitMQ.Client.ConnectionFactory
            {
                HostName = Testing.ServiceEnvironment.RabbitHost,
                Port = Testing.ServiceEnvironment.RabbitAmqpPort,
                UserName = Testing.ServiceEnvironment.RabbitUser,
                Password = Testing.ServiceEnvironment.RabbitPassword
            };
            await using var connection = await factory.CreateConnectionAsync();
            foreach (var name in new[] { endpoint, endpoint + "_error", endpoint + "_skipped" })
            {
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(name, false, false);
                await channel.ExchangeDeleteAsync(name, false);
            }
        }
    }
}
