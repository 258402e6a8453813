using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// Batched inbox transactions on one endpoint: messages that are waiting together run their consumers
/// one after another inside one transaction and commit once; each is acknowledged after that commit.
/// A batch is what has arrived while the previous batch ran (never a timer); a message arriving alone
/// runs exactly as in per-message mode. A consumer that throws is rolled back alone (to its savepoint)
/// and takes its normal failure path; a batch whose commit fails is split and every member retried
/// alone, once. See docs/event-forwarding.md for when to pick this mode.
/// </summary>
public sealed class ForwardingBatchOptions
{
    /// <summary>
    /// The most messages in one transaction. Default 8; 2 to 64 (each member takes one savepoint, and
    /// PostgreSQL slows every snapshot once a transaction has more than 64 subtransactions). A batch is
    /// also never larger than the messages the endpoint lets run at once (its concurrency limit or prefetch).
    /// </summary>
    public int MaxBatchSize { get; set; } = 8;

    /// <summary>
    /// How many batches of this endpoint run at once, each on its own connection. Default 2 (one batch runs
    /// its consumers while the other commits; a single leader runs the endpoint's consumers one after
    /// another and was slower than per-message mode under load); 1 to 8.
    /// </summary>
    public int MaxConcurrentBatches { get; set; } = 2;

    /// <summary>
    /// A member whose consumer runs longer than this is logged (Warning 4134), naming the message and how many
    /// batch-mates waited: it holds their commit and acknowledgements (a consumer that is often this slow belongs
    /// on a per-message endpoint). Default 1 s.
    /// </summary>
    public TimeSpan SlowMemberWarning { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The endpoint's collector these options built (tests reach it through the options they configured).</summary>
    internal ForwardingBatchCollector? Collector { get; set; }

    internal void Validate(OptionsValidator validator) => validator
        .InRange(MaxBatchSize, 2, 64, "Batching." + nameof(MaxBatchSize))
        .InRange(MaxConcurrentBatches, 1, 8, "Batching." + nameof(MaxConcurrentBatches))
        .Positive(SlowMemberWarning, "Batching." + nameof(SlowMemberWarning));
}
