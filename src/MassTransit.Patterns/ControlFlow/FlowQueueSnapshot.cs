namespace MassTransit.Patterns.ControlFlow;

/// <summary>One watched queue as the <see cref="FlowMonitor"/> holds it now.</summary>
/// <param name="Queue">The watched queue.</param>
/// <param name="State">The state the monitor stated last.</param>
/// <param name="Depth">The depth of the last good reading (0 before the first).</param>
/// <param name="HighWatermark">At or above this depth producers are slowed.</param>
/// <param name="LowWatermark">At or below this depth they resume.</param>
/// <param name="StopMark">At or above this depth producers are stopped, or null.</param>
/// <param name="LastReadingAt">When the monitor last applied a reading, or null before the first.</param>
/// <param name="ReadingFailed">True when the last reading failed (the state held).</param>
public readonly record struct FlowQueueSnapshot(string Queue, FlowState State, long Depth, long HighWatermark, long LowWatermark, long? StopMark,
    DateTimeOffset? LastReadingAt, bool ReadingFailed);
