namespace MassTransit.Patterns.ControlFlow;

/// <summary>What a producer does with a message bound to a stopped queue.</summary>
public enum StopAction
{
    /// <summary>Wait until the queue is no longer stopped, at most <see cref="ProducerControlFlowOptions.MaxWait"/>, then reject.</summary>
    Wait,

    /// <summary>Throw <see cref="BackPressureException"/> at once.</summary>
    Reject
}
