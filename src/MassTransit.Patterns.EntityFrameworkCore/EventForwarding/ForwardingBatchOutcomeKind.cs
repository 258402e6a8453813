namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>How a member of a batched inbox transaction ended.</summary>
enum ForwardingBatchOutcomeKind
{
    /// <summary>Its consumer ran and the batch committed its writes, inbox row and outbox rows: acknowledge.</summary>
    Committed,

    /// <summary>The inbox already held it: its consumer did not run; acknowledge.</summary>
    Duplicate,

    /// <summary>Its consumer failed and was rolled back alone: its normal failure path follows.</summary>
    Failed,

    /// <summary>Not run in a batch (alone, or its batch was split): run it in a transaction of its own.</summary>
    RunAlone
}
