using System.Collections.Concurrent;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Watch.Messages;
using MassTransit.Patterns.Watch;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Watch;

/// <summary>The watch notification pattern under MassTransit's test harness (in-memory transport, in-memory store).</summary>
[Collection("watch")]
public sealed class WatchNotificationTests
{
    static readonly TimeSpan Wait = WatchRig.Wait;

    static FeatureFlag Flag(int revision, string name = "dark-mode") => new(name, revision % 2 == 0, revision);

    [Fact]
    public async Task Registration_returns_the_current_value_and_every_later_change_follows_with_its_version()
    {
        await using var rig = await WatchRig.StartAsync();
        await rig.Source.Set("flags/dark-mode", Flag(1));
        await rig.Source.Set("flags/dark-mode", Flag(2));

        await using var watcher = await rig.WatchAsync(o => o.Keys.Add("flags/dark-mode"));

        Assert.True(watcher.TryGetValue("flags/dark-mode", out var current), "registration must return the current value");
        Assert.Equal(2, current.Version);
        Assert.Equal(Flag(2), current.Value);

        var changed = new ConcurrentQueue<long>();
        watcher.Changed += (_, e) => changed.Enqueue(e.Version);
        var result = await rig.Source.Set("flags/dark-mode", Flag(3));

        Assert.Equal(3, result.Version);
        Assert.Equal(1, result.Watchers);
        Assert.Equal(1, result.Notified);
        await Eventually.True(() => watcher.TryGetValue("flags/dark-mode", out var e) && e.Version == 3, Wait, "the change reaches the watcher");
        Assert.Equal(Flag(3), watcher.Values["flags/dark-mode"].Value);
        Assert.Equal([3L], changed);
    }

    [Fact]
    public async Task A_prefix_watch_holds_every_key_under_it_including_keys_created_later_and_nothing_else()
    {
        await using var rig = await WatchRig.StartAsync();
        await rig.Source.Set("tenant/a/limit", Flag(1, "a"));
        await rig.Source.Set("other/x", Flag(1, "x"));

        await using var watcher = await rig.WatchAsync(o => o.Prefixes.Add("tenant/"));
        Assert.Equal(["tenant/a/limit"], watcher.Values.Keys);

        await rig.Source.Set("tenant/b/limit", Flag(1, "b"));
        await rig.Source.Set("other/x", Flag(2, "x"));
        await rig.Source.Set("tenant/a/limit", Flag(2, "a"));

        await Eventually.True(() => watcher.Values.Count == 2 && watcher.Values["tenant/a/limit"].Version == 2, Wait, "both tenant keys held, a at version 2");
        Assert.False(watcher.TryGetValue("other/x", out _));
    }

    [Fact]
    public async Task Notifications_delivered_out_of_order_never_apply_a_stale_value()
    {
        await using var rig = await WatchRig.StartAsync();
        await using var watcher = await rig.WatchAsync(o => o.Keys.Add("k"));
        var applied = new ConcurrentQueue<long>();
        watcher.Changed += (_, e) => applied.Enqueue(e.Version);

        // One at a time, in a scrambled order: each arrival waits for the previous one to be handled.
        long[] order = [3, 1, 2, 5, 4, 5, 2];
        var handled = 0L;
        foreach (var version in order)
        {
            await rig.NotifyAsync(watcher, "k", version, Flag((int)version));
            handled++;
            var expected = handled;
            await Eventually.True(() => watcher.Applied + watcher.StaleIgnored == expected, Wait, $"version {version} handled");
        }

        Assert.Equal([3L, 5L], applied);
        Assert.Equal(5, watcher.StaleIgnored);
        Assert.Equal(Flag(5), watcher.Values["k"].Value);
        Assert.Equal(5, watcher.Values["k"].Version);
    }

    [Fact]
    public async Task A_shuffled_burst_of_concurrent_notifications_ends_on_the_highest_version_and_only_ever_moves_forward()
    {
        const int Versions = 300;
        await using var rig = await WatchRig.StartAsync();
        await using var watcher = await rig.WatchAsync(o => o.Keys.Add("k"));
        var applied = new ConcurrentQueue<long>();
        watcher.Changed += (_, e) => applied.Enqueue(e.Version);

        var shuffled = Enumerable.Range(1, Versions).Select(v => (long)v).OrderBy(_ => Random.Shared.Next()).ToArray();
        await Task.WhenAll(shuffled.Select(v => rig.NotifyAsync(watcher, "k", v, Flag((int)v))));

        await Eventually.True(() => watcher.Applied + watcher.StaleIgnored == Versions, Wait, "every notification handled");
        Assert.Equal(Versions, watcher.Values["k"].Version);
        Assert.Equal(Flag(Versions), watcher.Values["k"].Value);
        var sequence = applied.ToArray();
        Assert.True(sequence.Zip(sequence.Skip(1)).All(p => p.First < p.Second), "the Changed events only move forward: " + string.Join(",", sequence));
    }

    [Fact]
    public async Task A_renewal_reply_older_than_a_notification_already_applied_does_not_overwrite_it()
    {
        await using var rig = await WatchRig.StartAsync(fakeTime: true);
        await rig.Source.Set("k", Flag(1));
        await using var watcher = await rig.WatchAsync(o =>
        {
            o.Keys.Add("k");
            o.RenewInterval = TimeSpan.FromSeconds(10);
        });
        var registrations = ((Watcher<FeatureFlag>)watcher).Registrations;

        // A notification newer than the store's version arrives first; the renewal's reply then carries version 1.
        await rig.NotifyAsync(watcher, "k", 7, Flag(7));
        await Eventually.True(() => watcher.Values["k"].Version == 7, Wait, "version 7 applied");
        rig.Time!.Advance(TimeSpan.FromSeconds(10));
        await Eventually.True(() => ((Watcher<FeatureFlag>)watcher).Registrations > registrations, Wait, "the watcher renewed");

        Assert.Equal(7, watcher.Values["k"].Version);
        Assert.Equal(Flag(7), watcher.Values["k"].Value);
        Assert.True(watcher.StaleIgnored >= 1, "the reply's older version was ignored");
    }

    [Fact]
    public async Task A_watcher_whose_lease_expires_is_pruned_while_a_renewing_watcher_stays()
    {
        var lease = TimeSpan.FromSeconds(30);
        var sweep = TimeSpan.FromSeconds(5);
        var renew = TimeSpan.FromSeconds(10);
        await using var rig = await WatchRig.StartAsync(o =>
        {
            o.LeaseDuration = lease;
            o.SweepInterval = sweep;
        }, fakeTime: true);
        await using var live = await rig.WatchAsync(o =>
        {
            o.Keys.Add("k");
            o.RenewInterval = renew;
        });

        // A watcher that registered and then died: nothing listens at its address, and it never renews.
        var dead = Guid.NewGuid();
        var client = rig.Harness.Bus.CreateRequestClient<RegisterWatch<FeatureFlag>>();
        await client.GetResponse<WatchRegistered<FeatureFlag>>(new RegisterWatch<FeatureFlag>
        { WatcherId = dead, Address = new Uri("loopback://localhost/watcher-that-died"), Keys = ["k"] });
        Assert.Equal(2, (await rig.Store.WatchersOfAsync(rig.Source.Name, "k", rig.Time!.GetUtcNow().UtcDateTime)).Count);

        // Time moves one sweep at a time; the live watcher's renewals are awaited as they fall due.
        var watcher = (Watcher<FeatureFlag>)live;
        for (var elapsed = sweep; elapsed <= lease + sweep; elapsed += sweep)
        {
            rig.Time.Advance(sweep);
            var due = 1 + (long)(elapsed / renew);
            await Eventually.True(() => watcher.Registrations >= due, Wait, $"renewal {due} at {elapsed}");
        }

        var now = rig.Time.GetUtcNow().UtcDateTime;
        await Eventually.True(async () => (await rig.Store.WatchersOfAsync(rig.Source.Name, "k", now)).Count == 1
            && (await rig.Store.CountWatchersAsync(rig.Source.Name, DateTime.MinValue))["k"] == 1, Wait, "the dead watcher is pruned by the sweep");
        var remaining = await rig.Store.WatchersOfAsync(rig.Source.Name, "k", now);
        Assert.Equal(live.WatcherId, Assert.Single(remaining).WatcherId);

        var result = await rig.Source.Set("k", Flag(1));
        Assert.Equal(1, result.Notified);
        await Eventually.True(() => live.TryGetValue("k", out var e) && e.Version == 1, Wait, "the live watcher still gets changes");
    }

    /// <summary>A transport that cannot reach one address: its sends fail and it says the address is gone.</summary>
    sealed class UnreachableAddress(string marker) : IWatchDeliveryTransport
    {
        public int Attempts;

        public Uri DeliveryAddress(Uri watcherAddress) => watcherAddress;

        public void Prepare(SendContext context, Uri watcherAddress)
        {
            if (context.DestinationAddress?.ToString().Contains(marker, StringComparison.Ordinal) == true)
            {
                Interlocked.Increment(ref Attempts);
                throw new InvalidOperationException("no route to " + context.DestinationAddress);
            }
        }

        public bool IsUnreachable(Exception exception) => exception.Message.StartsWith("no route", StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_watcher_the_transport_cannot_reach_is_pruned_after_the_configured_attempts_and_the_others_are_notified()
    {
        var transport = new UnreachableAddress("gone-watcher");
        await using var rig = await WatchRig.StartAsync(o => o.DeliveryAttempts = 4, s => s.AddSingleton<IWatchDeliveryTransport>(transport));
        await using var live = await rig.WatchAsync(o => o.Keys.Add("k"));
        var client = rig.Harness.Bus.CreateRequestClient<RegisterWatch<FeatureFlag>>();
        await client.GetResponse<WatchRegistered<FeatureFlag>>(new RegisterWatch<FeatureFlag>
        { WatcherId = Guid.NewGuid(), Address = new Uri("loopback://localhost/gone-watcher"), Keys = ["k"] });

        var first = await rig.Source.Set("k", Flag(1));
        var second = await rig.Source.Set("k", Flag(2));

        Assert.Equal((2, 1, 1, 1), (first.Watchers, first.Notified, first.Failed, first.Pruned));
        Assert.Equal(4, transport.Attempts);
        Assert.Equal((1, 1, 0), (second.Watchers, second.Notified, second.Pruned));
        await Eventually.True(() => live.TryGetValue("k", out var e) && e.Version == 2, Wait, "the reachable watcher converges");
    }

    [Fact]
    public async Task A_restarted_watcher_registers_again_and_catches_up_on_what_it_missed()
    {
        await using var rig = await WatchRig.StartAsync();
        var id = Guid.NewGuid();
        await rig.Source.Set("k", Flag(1));
        var first = await rig.WatchAsync(o =>
        {
            o.Keys.Add("k");
            o.WatcherId = id;
            o.UnregisterOnStop = false;
        });
        Assert.Equal(1, first.Values["k"].Version);
        await first.DisposeAsync();

        await rig.Source.Set("k", Flag(2));
        await rig.Source.Set("k", Flag(3));
        await using var restarted = await rig.WatchAsync(o =>
        {
            o.Keys.Add("k");
            o.WatcherId = id;
        });

        Assert.Equal(3, restarted.Values["k"].Version);
        Assert.Equal(Flag(3), restarted.Values["k"].Value);
        Assert.Single(await rig.Store.WatchersOfAsync(rig.Source.Name, "k", DateTime.UtcNow));
    }

    [Fact]
    public async Task A_watcher_that_stops_cleanly_cancels_its_registration()
    {
        await using var rig = await WatchRig.StartAsync();
        var watcher = await rig.WatchAsync(o => o.Keys.Add("k"));
        Assert.Single(await rig.Store.WatchersOfAsync(rig.Source.Name, "k", DateTime.UtcNow));

        await watcher.DisposeAsync();

        await Eventually.True(async () => (await rig.Store.WatchersOfAsync(rig.Source.Name, "k", DateTime.UtcNow)).Count == 0, Wait, "the registration is cancelled");
    }

    [Fact]
    public async Task Versions_are_one_per_change_and_concurrent_sets_of_one_key_get_distinct_versions()
    {
        await using var rig = await WatchRig.StartAsync();
        var results = await Task.WhenAll(Enumerable.Range(1, 50).Select(i => rig.Source.Set("k", Flag(i))));

        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), results.Select(r => r.Version).Order());
        Assert.Equal(50, (await rig.Source.Get("k"))!.Version);
    }

    [Fact]
    public async Task A_hosted_watcher_starts_with_the_bus_and_holds_the_current_value()
    {
        var services = WatchRig.Services_(null, s => s.AddWatcher<FeatureFlag>(o => o.Prefixes.Add("flags/")), null);
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var source = provider.GetRequiredService<IWatchSource<FeatureFlag>>();
            await source.Set("flags/a", Flag(1, "a"));
            var watcher = provider.GetRequiredService<IWatcher<FeatureFlag>>();
            await watcher.Registered.WaitAsync(Wait);
            await source.Set("flags/a", Flag(2, "a"));

            await Eventually.True(() => watcher.TryGetValue("flags/a", out var e) && e.Version == 2, Wait, "the hosted watcher follows the key");
        }
        finally
        {
            await harness.Stop();
        }
    }

    [Fact]
    public async Task Invalid_source_options_fail_the_bus_start_naming_each_option()
    {
        var services = WatchRig.Services_(o =>
        {
            o.LeaseDuration = TimeSpan.FromSeconds(10);
            o.SweepInterval = TimeSpan.FromSeconds(20);
            o.FanOutConcurrency = 0;
            o.DeliveryAttempts = 0;
            o.AllowedPrefixes.Add("");
        }, null, null);
        await using var provider = services.BuildServiceProvider(true);

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => provider.GetRequiredService<ITestHarness>().Start());

        var options = FindOptionsException(failure);
        Assert.Contains("WatchSourceOptions.SweepInterval", options.Message);
        Assert.Contains("WatchSourceOptions.FanOutConcurrency", options.Message);
        Assert.Contains("WatchSourceOptions.DeliveryAttempts", options.Message);
        Assert.Contains("WatchSourceOptions.AllowedPrefixes[0]", options.Message);
    }

    [Fact]
    public async Task Invalid_watcher_options_fail_naming_the_option_at_bus_start_and_at_watch()
    {
        var services = WatchRig.Services_(null, s => s.AddWatcher<FeatureFlag>(o =>
        {
            o.Prefixes.Add("");
            o.RenewInterval = TimeSpan.Zero;
        }), null);
        await using (var provider = services.BuildServiceProvider(true))
        {
            var failure = FindOptionsException(await Assert.ThrowsAnyAsync<Exception>(() => provider.GetRequiredService<ITestHarness>().Start()));
            Assert.Contains("WatcherOptions.Prefixes[0]", failure.Message);
            Assert.Contains("WatcherOptions.RenewInterval", failure.Message);
        }

        await using var rig = await WatchRig.StartAsync();
        var empty = await Assert.ThrowsAsync<PatternOptionsException>(() => rig.WatchAsync(_ => { }));
        Assert.Contains("WatcherOptions.Keys", empty.Message);
    }

    [Fact]
    public async Task The_source_refuses_a_watch_outside_its_allowed_prefixes()
    {
        await using var rig = await WatchRig.StartAsync(o => o.AllowedPrefixes.Add("flags/"));

        var refused = await Assert.ThrowsAsync<WatchRejectedException>(() => rig.WatchAsync(o => o.Keys.Add("secrets/db")));
        Assert.Contains("outside the allowed prefixes", refused.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => rig.Source.Set("secrets/db", Flag(1)));
        await using var allowed = await rig.WatchAsync(o => o.Keys.Add("flags/x"));
    }

    static PatternOptionsException FindOptionsException(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is PatternOptionsException options)
                return options;
        if (exception is AggregateException aggregate)
            foreach (var inner in aggregate.InnerExceptions)
                if (inner is PatternOptionsException options)
                    return options;
        throw new Xunit.Sdk.XunitException("no PatternOptionsException in " + exception);
    }
}

/// <summary>Fan-out bound and the watch instruments (in the same collection as the other watch tests, so no other watcher records meanwhile).</summary>
[Collection("watch")]
public sealed class WatchFanOutAndMetricsTests
{
    static readonly TimeSpan Wait = WatchRig.Wait;

    /// <summary>Holds every change notification in PreSend until released, counting how many are in flight.</summary>
    sealed class HeldSends : ISendObserver
    {
        public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _inFlight, _peak;

        public int InFlight => Volatile.Read(ref _inFlight);

        public int Peak => Volatile.Read(ref _peak);

        public async Task PreSend<T>(SendContext<T> context)
            where T : class
        {
            if (context.Message is not WatchChanged<FeatureFlag>)
                return;
            var now = Interlocked.Increment(ref _inFlight);
            int peak;
            while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
            {
            }
            await Release.Task;
            Interlocked.Decrement(ref _inFlight);
        }

        public Task PostSend<T>(SendContext<T> context)
            where T : class =>
            Task.CompletedTask;

        public Task SendFault<T>(SendContext<T> context, Exception exception)
            where T : class =>
            Task.CompletedTask;
    }

    [Fact]
    public async Task A_change_is_sent_to_its_watchers_in_parallel_but_never_more_at_once_than_the_fan_out_concurrency()
    {
        const int Bound = 3, Watchers = 12;
        await using var rig = await WatchRig.StartAsync(o => o.FanOutConcurrency = Bound);
        var watchers = new List<IWatcher<FeatureFlag>>();
        for (var i = 0; i < Watchers; i++)
            watchers.Add(await rig.WatchAsync(o => o.Keys.Add("k")));
        var held = new HeldSends();
        using var _ = rig.Harness.Bus.ConnectSendObserver(held);

        var set = rig.Source.Set("k", new FeatureFlag("k", true, 1));
        await Eventually.True(() => held.InFlight == Bound, Wait, $"{Bound} notifications in flight");
        Assert.False(set.IsCompleted);
        held.Release.SetResult();
        var result = await set.WaitAsync(Wait);

        Assert.Equal(Bound, held.Peak);
        Assert.Equal(Watchers, result.Notified);
        await Eventually.True(() => watchers.All(w => w.TryGetValue("k", out var e) && e.Version == 1), Wait, "every watcher got it");
        foreach (var watcher in watchers)
            await watcher.DisposeAsync();
    }

    [Fact]
    public async Task The_source_and_the_watchers_record_their_instruments()
    {
        var name = "metrics-" + Guid.NewGuid().ToString("N")[..8];
        var measurements = new ConcurrentQueue<(string Instrument, double Value, string? Source, string? Reason)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == Diagnostics.PatternsDiagnostics.Name && instrument.Name.StartsWith("masstransit.patterns.watch.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        void Record(System.Diagnostics.Metrics.Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? source = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "masstransit.patterns.watch.source")
                    source = tag.Value as string;
                if (tag.Key == "masstransit.patterns.watch.reason")
                    reason = tag.Value as string;
                if (tag.Key == "masstransit.patterns.watch.key" && tag.Value as string != "k")
                    return;
            }
            measurements.Enqueue((instrument.Name, value, source, reason));
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        await using var rig = await WatchRig.StartAsync(o =>
        {
            o.Name = name;
            o.LeaseDuration = TimeSpan.FromSeconds(30);
            o.SweepInterval = TimeSpan.FromSeconds(5);
        }, fakeTime: true);
        var watcher = await rig.WatchAsync(o => o.Keys.Add("k"));
        var client = rig.Harness.Bus.CreateRequestClient<RegisterWatch<FeatureFlag>>();
        await client.GetResponse<WatchRegistered<FeatureFlag>>(new RegisterWatch<FeatureFlag> { WatcherId = Guid.NewGuid(), Address = new Uri("loopback://localhost/nobody"), Keys = ["k"] });
        await rig.Source.Set("k", new FeatureFlag("k", true, 1));
        await Eventually.True(() => watcher.TryGetValue("k", out _), Wait, "applied");
        await rig.NotifyAsync(watcher, "k", 1, new FeatureFlag("k", true, 1));
        await Eventually.True(() => watcher.StaleIgnored == 1, Wait, "the copy is ignored");
        double Sum(string instrument, string? reason = null) =>
            measurements.Where(m => m.Instrument == "masstransit.patterns.watch." + instrument && (m.Source is null || m.Source == name) && (reason is null || m.Reason == reason))
                .Sum(m => m.Value);
        Assert.Equal(2, Sum("notifications.sent"));
        Assert.Equal(2, Sum("registrations"));
        Assert.Equal(1, Sum("applied"));
        Assert.Equal(1, Sum("stale_dropped"));
        Assert.Single(measurements, m => m.Instrument == "masstransit.patterns.watch.convergence");

        // The live watcher leaves cleanly (not a prune); the other registration is never renewed and expires.
        await watcher.DisposeAsync();
        await Eventually.True(async () => (await rig.Store.WatchersOfAsync(name, "k", DateTime.MinValue)).Count == 1, Wait, "the watcher cancelled");
        rig.Time!.Advance(TimeSpan.FromSeconds(31));
        await client.GetResponse<WatchRegistered<FeatureFlag>>(new RegisterWatch<FeatureFlag> { WatcherId = Guid.NewGuid(), Address = new Uri("loopback://localhost/late"), Keys = ["k"] });
        await rig.Source.PruneExpired();
        listener.RecordObservableInstruments();

        Assert.Equal(1, Sum("pruned", "lease_expired"));
        Assert.Equal(1, measurements.Last(m => m.Instrument == "masstransit.patterns.watch.watchers" && m.Source == name).Value);
    }
}

/// <summary>A notification lost on the way is caught up by the watcher's next renewal.</summary>
[Collection("watch")]
public sealed class WatchCatchUpTests
{
    /// <summary>Every send fails, and not because the address is gone: nothing is pruned, nothing delivered.</summary>
    sealed class BrokenSends : IWatchDeliveryTransport
    {
        public volatile bool Broken;

        public Uri DeliveryAddress(Uri watcherAddress) => watcherAddress;

        public void Prepare(SendContext context, Uri watcherAddress)
        {
            if (Broken && context is SendContext<WatchChanged<FeatureFlag>>)
                throw new InvalidOperationException("broker unavailable");
        }

        public bool IsUnreachable(Exception exception) => false;
    }

    [Fact]
    public async Task A_change_whose_notification_failed_reaches_the_watcher_at_its_next_renewal_and_the_watcher_is_not_pruned()
    {
        var sends = new BrokenSends();
        await using var rig = await WatchRig.StartAsync(o => o.DeliveryAttempts = 2, s => s.AddSingleton<IWatchDeliveryTransport>(sends), fakeTime: true);
        await rig.Source.Set("k", new FeatureFlag("k", true, 1));
        await using var watcher = await rig.WatchAsync(o =>
        {
            o.Keys.Add("k");
            o.RenewInterval = TimeSpan.FromSeconds(10);
        });

        sends.Broken = true;
        var result = await rig.Source.Set("k", new FeatureFlag("k", false, 2));
        sends.Broken = false;

        Assert.Equal((1, 0, 1, 0), (result.Watchers, result.Notified, result.Failed, result.Pruned));
        Assert.Equal(1, watcher.Values["k"].Version);
        rig.Time!.Advance(TimeSpan.FromSeconds(10));
        await Eventually.True(() => watcher.Values["k"].Version == 2, WatchRig.Wait, "the renewal's reply brings version 2");
        Assert.Equal(new FeatureFlag("k", false, 2), watcher.Values["k"].Value);
    }
}
