using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Contextual;

/// <summary>
/// The contextual queue instruments on <see cref="PatternsDiagnostics.Meter"/>:
/// <c>masstransit.patterns.contextual.contexts_active</c> (gauge), <c>masstransit.patterns.contextual.queues</c>
/// (gauge, context queues), <c>masstransit.patterns.contextual.messages</c> (counter, tag queue: per context queue,
/// bucket or default), <c>masstransit.patterns.contextual.retired</c> and <c>.overflowed</c> (counters).
/// Tags: <c>masstransit.patterns.contextual.default_queue</c> names the pattern instance.
/// </summary>
public static class ContextualMetrics
{
    /// <summary>The tag naming a contextual instance by its default queue.</summary>
    public const string DefaultQueueTag = "masstransit.patterns.contextual.default_queue";

    static readonly ConcurrentDictionary<ContextualRouting, byte> Instances = new();

    static readonly Counter<long> Messages = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "contextual.messages", "{message}", "Messages consumed, per context queue (or bucket, or default queue).");

    static readonly Counter<long> RetiredCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "contextual.retired", "{queue}", "Context queues retired (drained and deleted).");

    static readonly Counter<long> OverflowCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "contextual.overflowed", "{message}", "Messages of a new context left on the default queue because the cap was reached and there are no buckets.");

    static ContextualMetrics()
    {
        PatternsDiagnostics.Meter.CreateObservableGauge(PatternsDiagnostics.InstrumentPrefix + "contextual.contexts_active",
            () => Instances.Keys.Select(r => new Measurement<int>(r.ActiveContexts, new KeyValuePair<string, object?>(DefaultQueueTag, r.Options.DefaultQueueName))),
            "{context}", "Contexts with an active queue (own or bucket).");
        PatternsDiagnostics.Meter.CreateObservableGauge(PatternsDiagnostics.InstrumentPrefix + "contextual.queues",
            () => Instances.Keys.Select(r => new Measurement<int>(r.ContextQueueCount, new KeyValuePair<string, object?>(DefaultQueueTag, r.Options.DefaultQueueName))),
            "{queue}", "Context queues that exist (buckets and the default queue not counted).");
    }

    internal static void Track(ContextualRouting routing) => Instances.TryAdd(routing, 0);

    internal static void Untrack(ContextualRouting routing) => Instances.TryRemove(routing, out _);

    internal static void Consumed(string defaultQueue, string queue) =>
        Messages.Add(1, new KeyValuePair<string, object?>(DefaultQueueTag, defaultQueue), new KeyValuePair<string, object?>(PatternsTags.Queue, queue));

    internal static void Retired(string defaultQueue) => RetiredCounter.Add(1, new KeyValuePair<string, object?>(DefaultQueueTag, defaultQueue));

    internal static void Overflowed(string defaultQueue) => OverflowCounter.Add(1, new KeyValuePair<string, object?>(DefaultQueueTag, defaultQueue));
}
