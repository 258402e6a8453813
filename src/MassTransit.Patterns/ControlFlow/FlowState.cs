namespace MassTransit.Patterns.ControlFlow;

/// <summary>What a flow monitor asks of the producers that feed a queue.</summary>
public enum FlowState
{
    /// <summary>Send freely.</summary>
    Normal = 0,

    /// <summary>The queue passed its high watermark: slow down (delay, rate-limit, wait or reject, as each producer chose).</summary>
    Slow = 1,

    /// <summary>The queue passed its stop mark: send nothing more until it drains (wait or reject).</summary>
    Stop = 2
}
