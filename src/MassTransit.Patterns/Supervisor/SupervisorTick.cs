namespace MassTransit.Patterns.Supervisor;

/// <summary>One look of a supervisor at its queue, and what it decided.</summary>
/// <param name="At">When (supervisor clock).</param>
/// <param name="Depth">The depth followed, or null when it could not be read.</param>
/// <param name="Wanted">The level the depth asked for (or the share the fleet assigned).</param>
/// <param name="Limit">The limit after the decision.</param>
/// <param name="PreviousLimit">The limit before it.</param>
/// <param name="Active">Messages being consumed.</param>
/// <param name="Waiting">Delivered messages waiting for a consumer.</param>
/// <param name="Direction">Up, down or hold.</param>
/// <param name="Failure">Why the depth or the fleet could not be read, or null.</param>
/// <param name="FleetInstances">Live instances in the fleet (fleet mode), or null.</param>
/// <param name="FleetTarget">The fleet's target (fleet mode), or null.</param>
public sealed record SupervisorTick(DateTimeOffset At, long? Depth, int Wanted, int Limit, int PreviousLimit, int Active, int Waiting,
    ScalingDirection Direction, string? Failure, int? FleetInstances, int? FleetTarget);
