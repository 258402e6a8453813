namespace MassTransit.Patterns.ControlFlow.Contracts;

/// <summary>
/// A flow monitor's word on one queue, published on every change and renewed before its lease
/// runs out. A producer that hears nothing more before <see cref="LeaseExpiresAt"/> returns to
/// normal, so a dead monitor cannot keep producers throttled.
/// </summary>
/// <param name="MonitorId">Which monitor speaks (one per process).</param>
/// <param name="Sequence">Increases with every statement of that monitor, so a late older one is ignored.</param>
/// <param name="Queue">The watched queue.</param>
/// <param name="State">What the producers should do.</param>
/// <param name="Depth">The depth that led to the state.</param>
/// <param name="HighWatermark">The depth at which producers are slowed.</param>
/// <param name="LowWatermark">The depth at which they resume.</param>
/// <param name="StopMark">The depth at which they are stopped, if any.</param>
/// <param name="MessageTypes">Message type URNs consumed from the queue, so publishes of those types are throttled too.</param>
/// <param name="LeaseExpiresAt">Until when the statement holds without renewal.</param>
public record FlowControlStateChanged(
    Guid MonitorId,
    long Sequence,
    string Queue,
    FlowState State,
    long Depth,
    long HighWatermark,
    long LowWatermark,
    long? StopMark,
    string[] MessageTypes,
    DateTimeOffset LeaseExpiresAt);
