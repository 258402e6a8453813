namespace MassTransit.Patterns.Supervisor;

/// <summary>One decision: the new state, the level the depth asked for, and what changed.</summary>
/// <param name="State">The state after the decision; its level is the one to apply.</param>
/// <param name="Wanted">The level the depth alone asked for (clamped to the bounds).</param>
/// <param name="Direction">Whether the level rose, fell or held.</param>
internal readonly record struct ScalingDecision(ScalingState State, int Wanted, ScalingDirection Direction);
