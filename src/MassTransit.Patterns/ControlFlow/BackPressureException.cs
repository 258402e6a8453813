namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// A send or publish was refused because the queue it feeds is above its watermark. Nothing was
/// sent: the caller still holds the message and decides (retry later, fail the request, shed load).
/// </summary>
public sealed class BackPressureException : MassTransitException
{
    /// <summary>Creates the exception.</summary>
    public BackPressureException(string queue, FlowState state, long depth, long mark, string reason)
        : base($"Back pressure on queue '{queue}': {state} at depth {depth} (mark {mark}); {reason}")
    {
        Queue = queue;
        State = state;
        Depth = depth;
        Mark = mark;
    }

    /// <summary>The queue that is full.</summary>
    public string Queue { get; }

    /// <summary>The state the flow monitor reported.</summary>
    public FlowState State { get; }

    /// <summary>The depth the monitor last read.</summary>
    public long Depth { get; }

    /// <summary>The mark the depth passed (high watermark when slow, stop mark when stopped).</summary>
    public long Mark { get; }
}
