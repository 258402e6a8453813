namespace MassTransit.Patterns.ControlFlow;

/// <summary>What a producer does with a message bound to a slowed queue.</summary>
public enum SlowAction
{
    /// <summary>Wait <see cref="ProducerControlFlowOptions.SlowDelay"/> before each send.</summary>
    Delay,

    /// <summary>Send at most <see cref="ProducerControlFlowOptions.SlowRatePerSecond"/> messages a second to the queue.</summary>
    RateLimit,

    /// <summary>Wait until the queue is normal again, at most <see cref="ProducerControlFlowOptions.MaxWait"/>, then reject.</summary>
    Wait,

    /// <summary>Throw <see cref="BackPressureException"/> at once.</summary>
    Reject
}
