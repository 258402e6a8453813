using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Watch.Messages;
using MassTransit.Patterns.Watch;

namespace MassTransit.Patterns.Tests.Watch;

/// <summary>
/// <see cref="IWatcher{TValue}.Changed"/> per key in version order, whatever the concurrency of the notifications
/// and however slow the handler: a handler that applies each value (as docs/watch-notification.md shows) ends on the latest one.
/// </summary>
[Collection("watch")]
public sealed class WatchEventOrderTests
{
    static FeatureFlag Flag(int revision) => new("dark-mode", revision % 2 == 0, revision);

    /// <summary>
    /// A user's handler that takes <c>work</c> to apply a value, then records what it applied. Its first call
    /// also waits for <see cref="Release"/>: a handler stuck on a slow dependency.
    /// </summary>
    sealed class SlowApplier(TimeSpan work) : IDisposable
    {
        readonly Lock _lock = new();
        readonly Dictionary<string, List<long>> _applied = new(StringComparer.Ordinal);
        readonly Dictionary<string, int> _running = new(StringComparer.Ordinal);
        readonly ManualResetEventSlim _gate = new();
        int _calls;
        int _overlaps;

        /// <summary>Calls for one key that started while another call for that key was running.</summary>
        public int Overlaps => Volatile.Read(ref _overlaps);

        /// <summary>The key of the first (held) call, once it started.</summary>
        public string? HeldKey { get; private set; }

        public void Release() => _gate.Set();

        public void Handle(object? sender, WatchEntry<FeatureFlag> e)
        {
            lock (_lock)
            {
                _running[e.Key] = _running.GetValueOrDefault(e.Key) + 1;
                if (_running[e.Key] > 1)
                    _overlaps++;
            }
            if (Interlocked.Increment(ref _calls) == 1)
            {
                HeldKey = e.Key;
                _gate.Wait(WatchRig.Wait);
            }
            Thread.Sleep(work);     // the handler's own work (a slow Apply), not a wait for an outcome
            lock (_lock)
            {
                _running[e.Key]--;
                if (!_applied.TryGetValue(e.Key, out var list))
                    _applied[e.Key] = list = [];
                list.Add(e.Version);
            }
        }

        public long[] Applied(string key)
        {
            lock (_lock)
                return _applied.TryGetValue(key, out var list) ? [.. list] : [];
        }

        public void Dispose() => _gate.Dispose();
    }

    /// <summary>
    /// Eight workers hand the watcher every version of two keys at once, as a transport's concurrent consumers do
    /// (RabbitMQ: one per prefetched message). Called on the watcher directly because the in-memory transport runs
    /// a synchronous handler inline on its single delivery thread, so through it nothing would overlap (measured:
    /// at most one handler call at a time over 400 notifications). The handler's first call is stuck until every
    /// notification was handled; then each call takes 1 ms.
    /// </summary>
    [Fact]
    public async Task Concurrent_notifications_with_a_slow_handler_raise_Changed_per_key_in_version_order_and_end_on_the_latest()
    {
        const int Versions = 200, Workers = 8;
        string[] keys = ["a", "b"];
        await using var rig = await WatchRig.StartAsync();
        await using var watcher = await rig.WatchAsync(o => o.Keys.AddRange(keys));
        var target = (Watcher<FeatureFlag>)watcher;
        using var applier = new SlowApplier(TimeSpan.FromMilliseconds(1));
        watcher.Changed += applier.Handle;

        var notifications = Enumerable.Range(1, Versions)
            .SelectMany(v => keys.Select(k => new WatchEntry<FeatureFlag> { Key = k, Version = v, Value = Flag(v), ChangedAt = DateTimeOffset.UtcNow }))
            .ToArray();
        // Eight workers take the notifications in version order, racing each other; each call is one consume.
        var handled = Parallel.ForEachAsync(notifications, new ParallelOptions { MaxDegreeOfParallelism = Workers }, (entry, _) =>
        {
            target.Apply(entry, notification: true);
            return ValueTask.CompletedTask;
        });
        try
        {
            // Every notification is applied while the handler is stuck (the stuck call holds its own only).
            await Eventually.True(() => watcher.Applied + watcher.StaleIgnored == notifications.Length, WatchRig.Wait, "every notification handled");
            Assert.All(keys, k => Assert.Equal(Versions, watcher.Values[k].Version));
            Assert.NotNull(applier.HeldKey);
        }
        finally
        {
            applier.Release();
        }
        // Handlers run within the calls that hand over the notifications: once these return, every event was raised.
        await handled.WaitAsync(WatchRig.Wait);

        foreach (var key in keys)
        {
            var applied = applier.Applied(key);
            var backwards = applied.Zip(applied.Skip(1)).Count(p => p.First >= p.Second);
            Assert.True(backwards == 0, $"{key}: {backwards} events at or below a version already raised: {string.Join(",", applied)}");
            Assert.True(applied[^1] == Versions, $"{key}: the handler's last value is version {applied[^1]}, not {Versions}: {string.Join(",", applied)}");
        }
        Assert.Equal(0, applier.Overlaps);
    }
}
