namespace MassTransit.Patterns.Supervisor;

/// <summary>
/// The supervisor-consumer rule: wanted = ceil(depth / messages per consumer), clamped to
/// [min, max]; up at once (or by at most a step); down only once every reading for at least a
/// whole cool-down wanted less, and then to the highest level wanted during the last cool-down; a
/// lower level must keep some headroom (hysteresis). Pure, so one instance and the fleet saga
/// decide alike.
/// </summary>
internal static class SupervisorPolicy
{
    /// <summary>The level <paramref name="depth"/> asks for, clamped to the rules' bounds.</summary>
    public static int Wanted(long depth, ScalingRules rules) => Clamp(CeilDiv(depth, rules.MessagesPerConsumer), rules);

    /// <summary>Decides the next level from the current state and one depth reading taken at <paramref name="now"/>.</summary>
    public static ScalingDecision Decide(ScalingState state, long depth, DateTimeOffset now, ScalingRules rules)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rules.MessagesPerConsumer, 1, nameof(rules));
        depth = Math.Max(0, depth);
        var level = Clamp(state.Level, rules);
        var wanted = Wanted(depth, rules);

        if (wanted > level)
        {
            var raised = rules.ScaleUpStep is { } step ? Math.Min(wanted, level + step) : wanted;
            return new ScalingDecision(new ScalingState(raised), wanted, ScalingDirection.Up);
        }

        // A lower level must still fit the depth with headroom; a reading that wants the current level (or more) restarts the cool-down.
        var lower = Clamp(CeilDiv((long)Math.Ceiling(depth * (1 + rules.ScaleDownHysteresis)), rules.MessagesPerConsumer), rules);
        if (lower >= level)
            return new ScalingDecision(new ScalingState(level), wanted, Direction(state.Level, level));

        var since = state.LowerSince ?? now;
        var recent = SlideWindow(state.Recent, new LevelReading(now, lower), now - rules.ScaleDownCooldown);
        var highest = Clamp(recent[0].Level, rules);
        if (now - since >= rules.ScaleDownCooldown && highest < level)
            return new ScalingDecision(new ScalingState(highest, since, recent), wanted, ScalingDirection.Down);

        return new ScalingDecision(new ScalingState(level, since, recent), wanted, Direction(state.Level, level));
    }

    /// <summary>
    /// Drops readings older than <paramref name="oldest"/> (inclusive) and adds <paramref name="reading"/>,
    /// keeping only readings that may still be the window's maximum, so the first is the highest.
    /// </summary>
    static LevelReading[] SlideWindow(IReadOnlyList<LevelReading>? recent, LevelReading reading, DateTimeOffset oldest)
    {
        var kept = new List<LevelReading>((recent?.Count ?? 0) + 1);
        if (recent is not null)
            foreach (var r in recent)
                if (r.At > oldest && r.Level > reading.Level)
                    kept.Add(r);
        kept.Add(reading);
        return kept.ToArray();
    }

    static ScalingDirection Direction(int from, int to) => to > from ? ScalingDirection.Up : to < from ? ScalingDirection.Down : ScalingDirection.Hold;

    static int Clamp(long value, ScalingRules rules) => (int)Math.Clamp(value, rules.Min, rules.Max);

    static long CeilDiv(long value, long divisor) => value <= 0 ? 0 : (value + divisor - 1) / divisor;
}
