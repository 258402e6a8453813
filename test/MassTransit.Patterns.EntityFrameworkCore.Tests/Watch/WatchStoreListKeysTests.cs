using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Watch;

/// <summary>
/// IWatchStore.ListKeysAsync (the dashboard's read): keys in order with their version and live watchers, exact or by
/// prefix, each watcher once, expired leases and other sources not counted, a prefix's _ and % taken literally; on the EF
/// Core store (SQLite, PostgreSQL) and the in-memory store.
/// </summary>
public sealed class WatchStoreListKeysTests
{
    const string Source = "routes";
    static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task The_ef_store_lists_keys_with_versions_and_live_watchers(Store kind)
    {
        await using var database = await WatchDatabase.CreateAsync(kind);
        await using var provider = database.Services().BuildServiceProvider(true);
        await AssertListsAsync(provider.GetRequiredService<IWatchStore>());
    }

    [Fact]
    public Task The_in_memory_store_lists_keys_with_versions_and_live_watchers() => AssertListsAsync(new InMemoryWatchStore());

    static async Task AssertListsAsync(IWatchStore store)
    {
        for (var i = 1; i <= 3; i++)
            await store.SetAsync(Source, "eu", $"\"v{i}\"", T0.AddSeconds(i));
        await store.SetAsync(Source, "eu-west", "\"w\"", T0);
        await store.SetAsync(Source, "us", "\"u1\"", T0);
        await store.SetAsync(Source, "us", "\"u2\"", T0.AddSeconds(7));
        await store.SetAsync(Source, "a_1", "\"x\"", T0);
        await store.SetAsync(Source, "ab1", "\"y\"", T0);
        await store.SetAsync("another-source", "eu", "\"z\"", T0);

        var lease = T0.AddSeconds(30);
        await store.RegisterAsync(new WatcherRegistration(Source, Guid.NewGuid(), new Uri("loopback://localhost/a"), ["eu"], [], lease));
        await store.RegisterAsync(new WatcherRegistration(Source, Guid.NewGuid(), new Uri("loopback://localhost/b"), [], ["eu"], lease));
        // Exact and by prefix at once: counted once per key.
        await store.RegisterAsync(new WatcherRegistration(Source, Guid.NewGuid(), new Uri("loopback://localhost/c"), ["eu"], ["e"], lease));
        await store.RegisterAsync(new WatcherRegistration(Source, Guid.NewGuid(), new Uri("loopback://localhost/d"), ["us"], [], T0.AddSeconds(5)));
        await store.RegisterAsync(new WatcherRegistration(Source, Guid.NewGuid(), new Uri("loopback://localhost/e"), [], ["a_"], lease));
        await store.RegisterAsync(new WatcherRegistration("another-source", Guid.NewGuid(), new Uri("loopback://localhost/f"), ["eu"], [], lease));

        var now = T0.AddSeconds(10); // d's lease has ended
        var keys = await store.ListKeysAsync(Source, now, 100);
        Assert.Equal(
            [
                new WatchKeyInfo("a_1", 1, T0, 1),
                new WatchKeyInfo("ab1", 1, T0, 0),
                new WatchKeyInfo("eu", 3, T0.AddSeconds(3), 3),
                new WatchKeyInfo("eu-west", 1, T0, 2),
                new WatchKeyInfo("us", 2, T0.AddSeconds(7), 0)
            ], keys);
        Assert.Equal(["a_1", "ab1"], (await store.ListKeysAsync(Source, now, 2)).Select(k => k.Key));
        Assert.Equal(1, Assert.Single(await store.ListKeysAsync(Source, T0, 100), k => k.Key == "us").Watchers);
        Assert.Empty(await store.ListKeysAsync("nobody", now, 100));
    }
}
