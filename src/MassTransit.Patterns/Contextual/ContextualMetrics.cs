using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Contextual;

/// <summary>
/// The contextual queue instruments on the container's <c>MassTransit.Patterns</c> meter (from its <see cref="IMeterFactory"/>):
/// <c>masstransit.patterns.contextual.contexts_active</c> (gauge), <c>masstransit.patterns.contextual.queues</c>
/// (gauge, context queues), <c>masstransit.patterns.contextual.messages</c> (counter, tag queue: per context queue,
/// bucket or default), <c>masstransit.patterns.contextual.retired</c> and <c>.overflowed</c> (counters).
/// Tags: <c>masstransit.patterns.contextual.default_queue</c> names the pattern instance.
/// A singleton of the container (registered by <c>AddContextualQueues</c>): its gauges read the routings of that container only.
/// </summary>
public sealed class ContextualMetrics
{
    /// <summary>The tag naming a contextual instance by its default queue.</summary>
    public const string DefaultQueueTag = "masstransit.patterns.contextual.default_queue";

    readonly ConcurrentDictionary<ContextualRouting, byte> _routings = new();
    readonly Counter<long> _messages;
    readonly Counter<long> _retired;
    readonly Counter<long> _overflowed;

    internal ContextualMetrics(PatternsMeter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var m = meter.Meter;
        _messages = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "contextual.messages", "{message}", "Messages consumed, per context queue (or bucket, or default queue).");
        _retired = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "contextual.retired", "{queue}", "Context queues retired (drained and deleted).");
        _overflowed = m.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "contextual.overflowed", "{message}", "Messages of a new context left on the default queue because the cap was reached and there are no buckets.");
        m.CreateObservableGauge(PatternsDiagnostics.InstrumentPrefix + "contextual.contexts_active",
            () => _routings.Keys.Select(r => new Measurement<int>(r.ActiveContexts, new KeyValuePair<string, object?>(DefaultQueueTag, r.Options.DefaultQueueName))),
            "{context}", "Contexts with an active queue (own or bucket).");
        m.CreateObservableGauge(PatternsDiagnostics.InstrumentPrefix + "contextual.queues",
            () => _routings.Keys.Select(r => new Measurement<int>(r.ContextQueueCount, new KeyValuePair<string, object?>(DefaultQueueTag, r.Options.DefaultQueueName))),
            "{queue}", "Context queues that exist (buckets and the default queue not counted).");
    }

    internal void Track(ContextualRouting routing) => _routings.TryAdd(routing, 0);

    internal void Untrack(ContextualRouting routing) => _routings.TryRemove(routing, out _);

    internal void Consumed(string defaultQueue, string queue) =>
        _messages.Add(1, new KeyValuePair<string, object?>(DefaultQueueTag, defaultQueue), new KeyValuePair<string, object?>(PatternsTags.Queue, queue));

    internal void Retired(string defaultQueue) => _retired.Add(1, new KeyValuePair<string, object?>(DefaultQueueTag, defaultQueue));

    internal void Overflowed(string defaultQueue) => _overflowed.Add(1, new KeyValuePair<string, object?>(DefaultQueueTag, defaultQueue));
}
