using System.Data;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>The inbox and outbox of one DbContext: transactions, delivery and clean-up.</summary>
public sealed class PatternsEntityFrameworkOutboxOptions : IPatternOptions
{
    /// <summary>The isolation level of the transaction that holds a consumer's writes, its inbox row and its outbox rows. Default read committed.</summary>
    public IsolationLevel IsolationLevel { get; set; } = IsolationLevel.ReadCommitted;

    /// <summary>Runs the background delivery service in this process. Default true; turn it off where another process delivers.</summary>
    public bool DeliveryService { get; set; } = true;

    /// <summary>How often the delivery service reads the table for undelivered rows: rows this process commits are handed to it in memory at once; the read finds other processes' commits, those of a handler's own transaction, and dropped handovers. Default 1 s.</summary>
    public TimeSpan DeliveryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many groups (one per consumed message or handler scope) one delivery round loads. Default 200.</summary>
    public int DeliveryBatchSize { get; set; } = 200;

    /// <summary>
    /// How many groups are delivered at once; each group's messages go one after another, in order.
    /// A confirmation of a persistent message can take a broker fsync (tens to hundreds of
    /// milliseconds under load), so many sends are kept in flight. Default 64.
    /// </summary>
    public int DeliveryConcurrency { get; set; } = 64;

    /// <summary>
    /// How long the delivery lease lasts without renewal: only its holder delivers, and another
    /// instance takes over when it expires (a clean stop releases it at once). Default 30 s.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest pause after failed delivery rounds (the pause doubles from <see cref="DeliveryInterval"/>). Default 30 s.</summary>
    public TimeSpan MaxDeliveryBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the outbox backlog and the age of its oldest row are measured for the metrics. Default 2 s.</summary>
    public TimeSpan BacklogSampleInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long inbox rows (consumed message ids) are kept: a copy of a message arriving later than
    /// this is applied again. Default 1 day.
    /// </summary>
    public TimeSpan InboxRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often old inbox rows are removed. Default 1 min.</summary>
    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How many inbox rows one clean-up statement removes. Default 1000.</summary>
    public int CleanupBatchSize { get; set; } = 1000;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .Require(IsolationLevel is not (IsolationLevel.Unspecified or IsolationLevel.Chaos), nameof(IsolationLevel),
            $"must be a level the database can honour (was {IsolationLevel}).")
        .Positive(DeliveryInterval, nameof(DeliveryInterval))
        .InRange(DeliveryBatchSize, 1, 10_000, nameof(DeliveryBatchSize))
        .InRange(DeliveryConcurrency, 1, 1_000, nameof(DeliveryConcurrency))
        .Positive(LeaseDuration, nameof(LeaseDuration))
        .Require(MaxDeliveryBackoff >= DeliveryInterval, nameof(MaxDeliveryBackoff),
            $"must be at least DeliveryInterval ({DeliveryInterval}) (was {MaxDeliveryBackoff}).")
        .Positive(BacklogSampleInterval, nameof(BacklogSampleInterval))
        .Positive(InboxRetention, nameof(InboxRetention))
        .Positive(CleanupInterval, nameof(CleanupInterval))
        .InRange(CleanupBatchSize, 1, 100_000, nameof(CleanupBatchSize));
}
