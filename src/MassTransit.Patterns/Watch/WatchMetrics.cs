using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Watch;

/// <summary>The watch notification instruments, <c>masstransit.patterns.watch.*</c>.</summary>
static class WatchMetrics
{
    public const string SourceTag = "masstransit.patterns.watch.source";
    public const string KeyTag = "masstransit.patterns.watch.key";
    public const string ReasonTag = "masstransit.patterns.watch.reason";
    public const string ValueTypeTag = "masstransit.patterns.watch.value_type";

    static readonly ConcurrentDictionary<(string Source, string Key), int> WatcherCounts = new();

    public static readonly Counter<long> NotificationsSent = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "watch.notifications.sent", "{notification}", "Change notifications a watch source delivered to a watcher's address.");

    public static readonly Counter<long> NotificationsFailed = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "watch.notifications.failed", "{notification}", "Change notifications not delivered after every attempt.");

    public static readonly Counter<long> Pruned = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "watch.pruned", "{watcher}", "Watchers removed from the registry: unreachable after retries, or lease expired.");

    public static readonly Counter<long> Registrations = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "watch.registrations", "{registration}", "Registrations and renewals a watch source answered.");

    public static readonly Counter<long> Applied = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "watch.applied", "{change}", "Values a watcher applied (newer than what it held).");

    public static readonly Counter<long> StaleDropped = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "watch.stale_dropped", "{change}", "Values a watcher ignored because it already held that version or a newer one.");

    public static readonly Histogram<double> Convergence = PatternsDiagnostics.Meter.CreateHistogram<double>(
        PatternsDiagnostics.InstrumentPrefix + "watch.convergence", "ms", "From the source storing a version to a watcher applying it.");

    static readonly ObservableGauge<int> Watchers = PatternsDiagnostics.Meter.CreateObservableGauge(
        PatternsDiagnostics.InstrumentPrefix + "watch.watchers", ObserveWatchers, "{watcher}", "Live watchers per watched key (prefixes end with *), as of the last sweep.");

    static IEnumerable<Measurement<int>> ObserveWatchers() =>
        WatcherCounts.Select(c => new Measurement<int>(c.Value, new KeyValuePair<string, object?>(SourceTag, c.Key.Source), new KeyValuePair<string, object?>(KeyTag, c.Key.Key)));

    public static void SetWatcherCounts(string source, IReadOnlyDictionary<string, int> counts)
    {
        _ = Watchers;
        foreach (var key in WatcherCounts.Keys.Where(k => k.Source == source && !counts.ContainsKey(k.Key)))
            WatcherCounts.TryRemove(key, out _);
        foreach (var (key, count) in counts)
            WatcherCounts[(source, key)] = count;
    }

    public static TagList Source(string source) => new() { { SourceTag, source } };

    public static TagList ValueType<TValue>() => new() { { ValueTypeTag, typeof(TValue).Name } };

    public static TagList Reason(string source, string reason) => new() { { SourceTag, source }, { ReasonTag, reason } };
}
