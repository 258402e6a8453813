namespace MassTransit.Patterns.Supervisor;

/// <summary>A level one reading wanted, and when.</summary>
/// <param name="At">When the reading was taken.</param>
/// <param name="Level">The lower level it wanted (with headroom).</param>
internal readonly record struct LevelReading(DateTimeOffset At, int Level);
