using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>
/// A service instance's heartbeat to the supervisor saga of its queue, with the depth it read (or
/// why it could not), what its endpoint is doing, and the rules it was configured with. The saga
/// answers with <see cref="SupervisorShareAssigned"/>.
/// </summary>
public sealed record ReportSupervisorInstance : CorrelatedBy<Guid>
{
    /// <summary>The saga instance: <see cref="SupervisorFleet.CorrelationIdOf"/> of the queue.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The supervised queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The reporting instance.</summary>
    public string InstanceId { get; init; } = "";

    /// <summary>Messages ready in the broker, or null when the probe failed.</summary>
    public long? Ready { get; init; }

    /// <summary>Messages delivered and unsettled, when the probe knows them.</summary>
    public long? Unacknowledged { get; init; }

    /// <summary>Why the probe failed, or null.</summary>
    public string? ProbeFailure { get; init; }

    /// <summary>Messages this instance is consuming now.</summary>
    public int Active { get; init; }

    /// <summary>Messages this instance holds waiting for a consumer.</summary>
    public int Waiting { get; init; }

    /// <summary>This instance's current limit.</summary>
    public int Limit { get; init; }

    /// <summary>Per-instance minimum.</summary>
    public int MinConsumers { get; init; }

    /// <summary>Per-instance maximum.</summary>
    public int MaxConsumers { get; init; }

    /// <summary>Waiting messages per consumer.</summary>
    public int MessagesPerConsumer { get; init; }

    /// <summary>Per-instance scale-up step, or null for at once.</summary>
    public int? ScaleUpStep { get; init; }

    /// <summary>Scale-down cool-down.</summary>
    public TimeSpan ScaleDownCooldown { get; init; }

    /// <summary>Scale-down hysteresis.</summary>
    public double ScaleDownHysteresis { get; init; }

    /// <summary>What counts as depth.</summary>
    public DepthMeasure DepthMeasure { get; init; }

    /// <summary>How long an instance may stay silent before it drops out of the share.</summary>
    public TimeSpan InstanceTimeout { get; init; }
}
