using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>The saga's answer to a heartbeat: the instance's share of the fleet's target.</summary>
public sealed record SupervisorShareAssigned
{
    /// <summary>The saga instance.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The supervised queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The instance the share is for.</summary>
    public string InstanceId { get; init; } = "";

    /// <summary>Consumers this instance should run.</summary>
    public int Share { get; init; }

    /// <summary>Consumers the whole fleet should run: the sum of the live instances' shares.</summary>
    public int Target { get; init; }

    /// <summary>Live instances the target is divided among.</summary>
    public int Instances { get; init; }

    /// <summary>The fleet-wide depth the target follows, or null when the last reading failed.</summary>
    public long? Depth { get; init; }
}
