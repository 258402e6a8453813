using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>The inbox and outbox instruments, on <see cref="PatternsDiagnostics.Meter"/>.</summary>
static class ForwardingDiagnostics
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "event_forwarding.";
    public const string DbContextTag = "masstransit.patterns.db_context";
    public const string ConsumerTag = "masstransit.patterns.consumer";

    static readonly ConcurrentDictionary<string, BacklogSample> Backlogs = new();

    public static readonly Counter<long> DuplicatesSuppressed = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "inbox.duplicates_suppressed", "{message}",
        "Redelivered or resent messages that the inbox found already consumed and acknowledged without running the consumer again.");

    public static readonly Counter<long> InboxRemoved = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "inbox.removed", "{row}",
        "Inbox rows removed after the retention period.");

    public static readonly Counter<long> Delivered = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "outbox.delivered", "{message}",
        "Outbox messages delivered to the broker (confirmed) and removed.");

    public static readonly Counter<long> DeliveryFailures = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "outbox.delivery_failures", "{message}",
        "Outbox messages whose delivery was not confirmed after every resend; they stay and are tried again.");

    public static readonly Histogram<double> DeliveryLag = PatternsDiagnostics.Meter.CreateHistogram<double>(Prefix + "outbox.delivery_lag", "ms",
        "Time from the handler's send to the broker's confirmation of the outbox delivery.");

    static ForwardingDiagnostics()
    {
        PatternsDiagnostics.Meter.CreateObservableGauge(Prefix + "outbox.backlog", () => Backlogs.Select(b =>
                new Measurement<long>(b.Value.Rows, new KeyValuePair<string, object?>(DbContextTag, b.Key))),
            "{message}", "Outbox rows waiting for delivery, as last measured by the delivery service.");
        PatternsDiagnostics.Meter.CreateObservableGauge(Prefix + "outbox.oldest_age", () => Backlogs.Select(b =>
                new Measurement<double>(b.Value.OldestAgeSeconds, new KeyValuePair<string, object?>(DbContextTag, b.Key))),
            "s", "Age of the oldest undelivered outbox row, as last measured by the delivery service (0 when empty).");
    }

    public static void RecordBacklog(string dbContext, long rows, double oldestAgeSeconds) => Backlogs[dbContext] = new BacklogSample(rows, oldestAgeSeconds);

    /// <summary>The last backlog measured for a DbContext type, for tests and the showcase.</summary>
    public static (long Rows, double OldestAgeSeconds)? LastBacklog(string dbContext) =>
        Backlogs.TryGetValue(dbContext, out var sample) ? (sample.Rows, sample.OldestAgeSeconds) : null;

    readonly record struct BacklogSample(long Rows, double OldestAgeSeconds);
}
