using MassTransit.Patterns.ControlFlow.Contracts;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>A queue's flow state as a producer sees it, its lease already applied.</summary>
/// <param name="Queue">The queue.</param>
/// <param name="State">Normal when nothing was heard or the lease ran out.</param>
/// <param name="Statement">The monitor's last statement, or null when none holds.</param>
public readonly record struct FlowStatus(string Queue, FlowState State, FlowControlStateChanged? Statement)
{
    /// <summary>The mark the depth passed: the stop mark when stopped, the high watermark when slow.</summary>
    public long Mark => State == FlowState.Stop ? Statement?.StopMark ?? 0 : Statement?.HighWatermark ?? 0;
}
