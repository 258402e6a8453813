using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Watch;

/// <summary>
/// The watch notification instruments, <c>masstransit.patterns.watch.*</c>, on the container's <c>MassTransit.Patterns</c>
/// meter (from its <see cref="IMeterFactory"/>). A singleton of the container (registered by <c>AddWatchSource</c> and
/// <c>AddWatcherFactory</c>): its watchers gauge reads the sources of that container only.
/// </summary>
sealed class WatchMetrics
{
    public const string SourceTag = "masstransit.patterns.watch.source";
    public const string KeyTag = "masstransit.patterns.watch.key";
    public const string ReasonTag = "masstransit.patterns.watch.reason";
    public const string ValueTypeTag = "masstransit.patterns.watch.value_type";

    readonly ConcurrentDictionary<(string Source, string Key), int> _watcherCounts = new();

    public WatchMetrics(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var m = meter.Meter;
        NotificationsSent = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "watch.notifications.sent", "{notification}", "Change notifications a watch source delivered to a watcher's address.");
        NotificationsFailed = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "watch.notifications.failed", "{notification}", "Change notifications not delivered after every attempt.");
        Pruned = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "watch.pruned", "{watcher}", "Watchers removed from the registry: unreachable after retries, or lease expired.");
        Registrations = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "watch.registrations", "{registration}", "Registrations and renewals a watch source answered.");
        Applied = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "watch.applied", "{change}", "Values a watcher applied (newer than what it held).");
        StaleDropped = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "watch.stale_dropped", "{change}", "Values a watcher ignored because it already held that version or a newer one.");
        Convergence = m.CreateHistogram<double>(
            PatternsDiagnostics.InstrumentPrefix + "watch.convergence", "ms", "From the source storing a version to a watcher applying it.");
        m.CreateObservableGauge(
            PatternsDiagnostics.InstrumentPrefix + "watch.watchers", ObserveWatchers, "{watcher}", "Live watchers per watched key (prefixes end with *), as of the last sweep.");
    }

    public Counter<long> NotificationsSent { get; }

    public Counter<long> NotificationsFailed { get; }

    public Counter<long> Pruned { get; }

    public Counter<long> Registrations { get; }

    public Counter<long> Applied { get; }

    public Counter<long> StaleDropped { get; }

    public Histogram<double> Convergence { get; }

    IEnumerable<Measurement<int>> ObserveWatchers() =>
        _watcherCounts.Select(c => new Measurement<int>(c.Value, new KeyValuePair<string, object?>(SourceTag, c.Key.Source), new KeyValuePair<string, object?>(KeyTag, c.Key.Key)));

    public void SetWatcherCounts(string source, IReadOnlyDictionary<string, int> counts)
    {
        foreach (var key in _watcherCounts.Keys.Where(k => k.Source == source && !counts.ContainsKey(k.Key)))
            _watcherCounts.TryRemove(key, out _);
        foreach (var (key, count) in counts)
            _watcherCounts[(source, key)] = count;
    }

    public static TagList Source(string source) => new() { { SourceTag, source } };

    public static TagList ValueType<TValue>() => new() { { ValueTypeTag, typeof(TValue).Name } };

    public static TagList Reason(string source, string reason) => new() { { SourceTag, source }, { ReasonTag, reason } };
}
