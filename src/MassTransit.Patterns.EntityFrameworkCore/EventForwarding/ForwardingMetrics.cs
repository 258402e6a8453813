using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EventForwarding;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The inbox and outbox instruments on the container's <c>MassTransit.Patterns</c> meter (a DI singleton
/// registered by <c>AddPatternsEntityFrameworkOutbox</c>); the backlog gauges read this instance's last samples.
/// </summary>
sealed class ForwardingMetrics
{
    const string Prefix = PatternsDiagnostics.InstrumentPrefix + "event_forwarding.";
    public const string DbContextTag = "masstransit.patterns.db_context";
    public const string ConsumerTag = "masstransit.patterns.consumer";

    readonly ConcurrentDictionary<string, BacklogSample> _backlogs = new();
    readonly EventForwardingTotals _totals;

    public ForwardingMetrics(PatternsMeter patternsMeter, EventForwardingMetrics forwarding)
    {
        ArgumentNullException.ThrowIfNull(patternsMeter);
        ArgumentNullException.ThrowIfNull(forwarding);
        _totals = forwarding.Totals;
        var meter = patternsMeter.Meter;
        DuplicatesSuppressed = meter.CreateCounter<long>(Prefix + "inbox.duplicates_suppressed", "{message}",
            "Redelivered or resent messages that the inbox found already consumed and acknowledged without running the consumer again.");
        InboxRemoved = meter.CreateCounter<long>(Prefix + "inbox.removed", "{row}",
            "Inbox rows removed after the retention period.");
        Delivered = meter.CreateCounter<long>(Prefix + "outbox.delivered", "{message}",
            "Outbox messages delivered to the broker (confirmed) and removed.");
        DeliveryFailures = meter.CreateCounter<long>(Prefix + "outbox.delivery_failures", "{message}",
            "Outbox messages whose delivery was not confirmed after every resend; they stay and are tried again.");
        DeliveryLag = meter.CreateHistogram<double>(Prefix + "outbox.delivery_lag", "ms",
            "Time from the handler's send to the broker's confirmation of the outbox delivery.");
        BatchSize = meter.CreateHistogram<long>(Prefix + "inbox.batch_size", "{message}",
            "Messages committed together by one batched inbox transaction.");
        BatchSplits = meter.CreateCounter<long>(Prefix + "inbox.batch_splits", "{batch}",
            "Batched inbox transactions that failed as a whole (claim, commit or connection) and whose members were retried alone.");
        BatchMemberFailures = meter.CreateCounter<long>(Prefix + "inbox.batch_member_failures", "{message}",
            "Members of a batched inbox transaction whose consumer failed and was rolled back alone while the others went on.");
        HandedOff = meter.CreateCounter<long>(Prefix + "outbox.handed_off", "{message}",
            "Outbox messages delivered from the rows handed over in memory after their commit (no read of the table).");
        Swept = meter.CreateCounter<long>(Prefix + "outbox.swept", "{message}",
            "Outbox messages delivered after a read of the table (start-up, another process's commits, a dropped or failed handover).");
        meter.CreateObservableGauge(Prefix + "outbox.backlog", () => _backlogs.Select(b =>
                new Measurement<long>(b.Value.Rows, new KeyValuePair<string, object?>(DbContextTag, b.Key))),
            "{message}", "Outbox rows waiting for delivery, as last measured by the delivery service.");
        meter.CreateObservableGauge(Prefix + "outbox.oldest_age", () => _backlogs.Select(b =>
                new Measurement<double>(b.Value.OldestAgeSeconds, new KeyValuePair<string, object?>(DbContextTag, b.Key))),
            "s", "Age of the oldest undelivered outbox row, as last measured by the delivery service (0 when empty).");
    }

    public Counter<long> DuplicatesSuppressed { get; }

    /// <summary>Counts a copy the inbox found consumed and acknowledged without running <paramref name="consumerType"/> (counter and total).</summary>
    public void DuplicateSuppressed(string? consumerType)
    {
        DuplicatesSuppressed.Add(1, new KeyValuePair<string, object?>(ConsumerTag, consumerType));
        _totals.CountInboxDuplicateSuppressed();
    }

    public Counter<long> InboxRemoved { get; }

    public Counter<long> Delivered { get; }

    public Counter<long> DeliveryFailures { get; }

    public Histogram<double> DeliveryLag { get; }

    public Histogram<long> BatchSize { get; }

    public Counter<long> BatchSplits { get; }

    public Counter<long> BatchMemberFailures { get; }

    public Counter<long> HandedOff { get; }

    public Counter<long> Swept { get; }

    public void RecordBacklog(string dbContext, long rows, double oldestAgeSeconds) => _backlogs[dbContext] = new BacklogSample(rows, oldestAgeSeconds);

    /// <summary>The last backlog measured for a DbContext type, for tests and the showcase.</summary>
    public (long Rows, double OldestAgeSeconds)? LastBacklog(string dbContext) =>
        _backlogs.TryGetValue(dbContext, out var sample) ? (sample.Rows, sample.OldestAgeSeconds) : null;

    readonly record struct BacklogSample(long Rows, double OldestAgeSeconds);
}
