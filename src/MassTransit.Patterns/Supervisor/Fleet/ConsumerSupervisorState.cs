using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>
/// The supervisor saga's state: one instance per supervised queue. Plain columns plus the live
/// instances as JSON, so any saga repository (in-memory, EF Core) stores it without extra mapping.
/// </summary>
public sealed class ConsumerSupervisorState : SagaStateMachineInstance
{
    /// <inheritdoc />
    public Guid CorrelationId { get; set; }

    /// <summary>The state machine's state.</summary>
    public string CurrentState { get; set; } = "";

    /// <summary>The supervised queue.</summary>
    public string Queue { get; set; } = "";

    /// <summary>Consumers the whole fleet should run.</summary>
    public int Target { get; set; }

    /// <summary>Since when every heartbeat wanted a lower target (the cool-down), or null.</summary>
    public DateTimeOffset? LowerSince { get; set; }

    /// <summary>The lower targets wanted within the last cool-down, as JSON (a sliding-window maximum, highest first).</summary>
    public string RecentLower { get; set; } = "[]";

    /// <summary>The fleet depth of the last successful reading, or null.</summary>
    public long? Depth { get; set; }

    /// <summary>Live instances.</summary>
    public int InstanceCount { get; set; }

    /// <summary>The live instances and their shares, as JSON (<see cref="SupervisorFleet.ReadInstances"/>).</summary>
    public string Instances { get; set; } = "[]";

    /// <summary>When the last heartbeat was applied.</summary>
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>The saga instance of <paramref name="queue"/>: every instance of the service meets in it (load it by this id).</summary>
    public static Guid CorrelationIdOf(string queue) => SupervisorFleet.CorrelationIdOf(queue);

    /// <summary>The live instances and their shares, read from <see cref="Instances"/> (ordered by id; the shares sum to <see cref="Target"/>).</summary>
    public IReadOnlyList<FleetInstance> ReadInstances() => SupervisorFleet.ReadInstances(Instances);
}
