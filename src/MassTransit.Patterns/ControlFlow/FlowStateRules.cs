namespace MassTransit.Patterns.ControlFlow;

/// <summary>The hysteresis: the state changes only when the depth crosses a mark, never between them.</summary>
static class FlowStateRules
{
    /// <summary>The state that follows <paramref name="current"/> at <paramref name="depth"/>.</summary>
    public static FlowState Next(FlowState current, long depth, long highWatermark, long lowWatermark, long? stopMark)
    {
        if (stopMark is { } stop && depth >= stop)
            return FlowState.Stop;
        if (depth <= lowWatermark)
            return FlowState.Normal;
        return current switch
        {
            FlowState.Normal => depth >= highWatermark ? FlowState.Slow : FlowState.Normal,
            FlowState.Slow => FlowState.Slow,
            FlowState.Stop => depth < highWatermark ? FlowState.Slow : FlowState.Stop,
            _ => current
        };
    }
}
