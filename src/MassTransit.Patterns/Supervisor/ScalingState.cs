namespace MassTransit.Patterns.Supervisor;

/// <summary>
/// Where a supervisor stands: the current level and, while readings want fewer consumers, since
/// when, and the lower levels they wanted during the last cool-down (only those that can still be
/// the highest: a sliding-window maximum).
/// </summary>
/// <param name="Level">Consumers currently allowed.</param>
/// <param name="LowerSince">When every reading began wanting fewer consumers, or null.</param>
/// <param name="Recent">The lower levels wanted within the last cool-down, highest first; null for none.</param>
internal readonly record struct ScalingState(int Level, DateTimeOffset? LowerSince = null, IReadOnlyList<LevelReading>? Recent = null);
