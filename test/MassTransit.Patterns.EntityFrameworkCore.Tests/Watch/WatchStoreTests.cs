using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Watch;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Watch;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Watch.Messages
{
    public sealed record RouteTable(string Region, int Revision);
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Watch
{
    using Messages;

    public sealed class WatchDb(DbContextOptions<WatchDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWatchEntities();
    }

    /// <summary>A SQLite file or a fresh PostgreSQL database holding the watch tables, deleted afterwards.</summary>
    sealed class WatchDatabase : IAsyncDisposable
    {
        readonly ThrowawayDatabase<WatchDb> _database;

        WatchDatabase(ThrowawayDatabase<WatchDb> database) => _database = database;

        public static async Task<WatchDatabase> CreateAsync(Store store)
        {
            if (store is not (Store.Sqlite or Store.PostgreSql))
                throw new ArgumentOutOfRangeException(nameof(store), store, "a relational store");
            return new WatchDatabase(await ThrowawayDatabase<WatchDb>.CreateAsync(store == Store.PostgreSql, "watch", o => new WatchDb(o), maxPoolSize: 40));
        }

        public WatchDb Open() => _database.Open();

        /// <summary>A container with the EF Core watch store over this database (a "process" of the source).</summary>
        public ServiceCollection Services()
        {
            var services = new ServiceCollection();
            services.AddDbContext<WatchDb>(_database.Configure);
            services.AddEntityFrameworkWatchStore<WatchDb>();
            return services;
        }

        public ValueTask DisposeAsync() => _database.DisposeAsync();
    }

    /// <summary>The EF Core watch store on SQLite and PostgreSQL: versions, the registry, leases, and a source restarted on the same database.</summary>
    public sealed class WatchStoreTests
    {
        const string Source = "routes";
        static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        static async Task<(WatchDatabase Database, ServiceProvider Provider, IWatchStore Store)> OpenAsync(Store store)
        {
            var database = await WatchDatabase.CreateAsync(store);
            var provider = database.Services().BuildServiceProvider(true);
            return (database, provider, provider.GetRequiredService<IWatchStore>());
        }

        [Theory]
        [InlineData(Store.Sqlite)]
        [InlineData(Store.PostgreSql)]
        public async Task Versions_grow_by_one_per_change_and_continue_after_a_restart(Store kind)
        {
            var (database, provider, store) = await OpenAsync(kind);
            await using var _ = database;
            for (var i = 1; i <= 3; i++)
                Assert.Equal(i, (await store.SetAsync(Source, "eu", $"\"v{i}\"", T0.AddSeconds(i))).Version);
            Assert.Equal(1, (await store.SetAsync("another-source", "eu", "\"x\"", T0)).Version);
            await provider.DisposeAsync();

            await using var restarted = database.Services().BuildServiceProvider(true);
            var again = restarted.GetRequiredService<IWatchStore>();
            var current = Assert.Single(await again.GetAsync(Source, ["eu"], []));
            Assert.Equal((3L, "\"v3\"", T0.AddSeconds(3)), (current.Version, current.Value, current.ChangedAt));
            Assert.Equal(4, (await again.SetAsync(Source, "eu", "\"v4\"", T0.AddSeconds(4))).Version);
        }

        [Theory]
        [InlineData(Store.Sqlite)]
        [InlineData(Store.PostgreSql)]
        public async Task Concurrent_changes_of_one_key_get_distinct_consecutive_versions(Store kind)
        {
            const int Changes = 20;
            var (database, provider, store) = await OpenAsync(kind);
            await using var _ = database;
            await using var __ = provider;

            var versions = await Task.WhenAll(Enumerable.Range(1, Changes).Select(i => Task.Run(() => store.SetAsync(Source, "eu", $"{i}", T0))));

            Assert.Equal(Enumerable.Range(1, Changes).Select(i => (long)i), versions.Select(v => v.Version).Order());
            Assert.Equal(Changes, Assert.Single(await store.GetAsync(Source, ["eu"], [])).Version);
        }

        [Theory]
        [InlineData(Store.Sqlite)]
        [InlineData(Store.PostgreSql)]
        public async Task The_registry_finds_watchers_by_key_and_prefix_renews_them_and_prunes_expired_leases(Store kind)
        {
            var (database, provider, store) = await OpenAsync(kind);
            await using var _ = database;
            await using var __ = provider;
            Guid exact = Guid.NewGuid(), prefix = Guid.NewGuid(), other = Guid.NewGuid(), shortLease = Guid.NewGuid();
            var lease = T0.AddSeconds(30);
            await store.RegisterAsync(new WatcherRegistration(Source, exact, new Uri("loopback://localhost/exact"), ["eu/west"], [], lease));
            await store.RegisterAsync(new WatcherRegistration(Source, prefix, new Uri("loopback://localhost/prefix"), [], ["eu/"], lease));
            await store.RegisterAsync(new WatcherRegistration(Source, other, new Uri("loopback://localhost/other"), ["us/east"], ["eu/w_"], lease));
            await store.RegisterAsync(new WatcherRegistration(Source, shortLease, new Uri("loopback://localhost/short"), ["eu/west"], [], T0.AddSeconds(5)));
            await store.RegisterAsync(new WatcherRegistration("another-source", Guid.NewGuid(), new Uri("loopback://localhost/x"), ["eu/west"], [], lease));

            async Task<Guid[]> Of(string key, DateTime now) => (await store.WatchersOfAsync(Source, key, now)).Select(w => w.WatcherId).Order().ToArray();

            Assert.Equal(new[] { exact, prefix, shortLease }.Order(), await Of("eu/west", T0));
            Assert.Equal(new[] { exact, prefix }.Order(), await Of("eu/west", T0.AddSeconds(6)));
            Assert.Equal([prefix], await Of("eu/north", T0));
            Assert.Equal(new[] { prefix, other }.Order(), await Of("eu/w_x", T0.AddSeconds(6)));
            Assert.Equal([prefix], await Of("eu/wax", T0.AddSeconds(6)));
            Assert.Empty(await Of("eu", T0));

            Assert.Equal(1, await store.RemoveExpiredAsync(Source, T0.AddSeconds(6), 100));
            Assert.Equal(0, await store.RemoveExpiredAsync(Source, T0.AddSeconds(6), 100));
            var counts = await store.CountWatchersAsync(Source, T0.AddSeconds(6));
            Assert.Equal(new Dictionary<string, int> { ["eu/west"] = 1, ["eu/*"] = 1, ["us/east"] = 1, ["eu/w_*"] = 1 }, counts);

            // A renewal moves the lease and replaces the watched keys.
            await store.RegisterAsync(new WatcherRegistration(Source, exact, new Uri("loopback://localhost/exact2"), ["us/east"], [], T0.AddSeconds(90)));
            Assert.Equal([prefix], await Of("eu/west", T0.AddSeconds(6)));
            var moved = (await store.WatchersOfAsync(Source, "us/east", T0.AddSeconds(60))).Single(w => w.WatcherId == exact);
            Assert.Equal(new Uri("loopback://localhost/exact2"), moved.Address);
            Assert.Equal(2, await store.RemoveExpiredAsync(Source, T0.AddSeconds(60), 100));
            Assert.Equal([exact], await Of("us/east", T0.AddSeconds(60)));

            Assert.True(await store.RemoveAsync(Source, exact));
            Assert.False(await store.RemoveAsync(Source, exact));
            Assert.Empty(await store.CountWatchersAsync(Source, T0));
            await using var db = database.Open();
            Assert.Equal(1, await db.Set<WatchedKeyRow>().CountAsync());
        }

        [Theory]
        [InlineData(Store.Sqlite)]
        [InlineData(Store.PostgreSql)]
        public async Task A_registration_reads_its_keys_and_every_key_under_its_prefixes(Store kind)
        {
            var (database, provider, store) = await OpenAsync(kind);
            await using var _ = database;
            await using var __ = provider;
            foreach (var key in new[] { "eu/west", "eu/north", "eu%/x", "us/east", "asia" })
                await store.SetAsync(Source, key, "1", T0);

            var found = await store.GetAsync(Source, ["asia", "missing"], ["eu/", "eu%"]);

            Assert.Equal(["asia", "eu%/x", "eu/north", "eu/west"], found.Select(v => v.Key));
        }

        [Theory]
        [InlineData(Store.Sqlite)]
        [InlineData(Store.PostgreSql)]
        public async Task A_source_restarted_on_the_same_database_continues_the_versions_and_a_watcher_catches_up(Store kind)
        {
            await using var database = await WatchDatabase.CreateAsync(kind);
            var watcherId = Guid.NewGuid();

            async Task<ServiceProvider> StartAsync()
            {
                var services = database.Services();
                services.AddWatcherFactory<RouteTable>();
                services.AddMassTransitTestHarness(x => x.AddWatchSource<RouteTable>());
                var provider = services.BuildServiceProvider(true);
                await provider.GetRequiredService<ITestHarness>().Start();
                return provider;
            }

            var first = await StartAsync();
            var source = first.GetRequiredService<IWatchSource<RouteTable>>();
            await source.Set("eu", new RouteTable("eu", 1));
            await source.Set("eu", new RouteTable("eu", 2));
            await first.GetRequiredService<ITestHarness>().Stop();
            await first.DisposeAsync();

            await using var second = await StartAsync();
            var restarted = second.GetRequiredService<IWatchSource<RouteTable>>();
            await using var watcher = await second.GetRequiredService<IWatcherFactory<RouteTable>>()
                .Watch(o => { o.Keys.Add("eu"); o.WatcherId = watcherId; }, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            Assert.Equal((2L, new RouteTable("eu", 2)), (watcher.Values["eu"].Version, watcher.Values["eu"].Value));

            var result = await restarted.Set("eu", new RouteTable("eu", 3));

            Assert.Equal(3, result.Version);
            await Eventually.True(() => watcher.Values["eu"].Version == 3, TimeSpan.FromSeconds(15), "the watcher gets version 3");
            await second.GetRequiredService<ITestHarness>().Stop();
        }
    }
}
