namespace MassTransit.Patterns.Supervisor;

/// <summary>The rules a scaling decision follows (per instance, or for a whole fleet).</summary>
/// <param name="Min">Fewest consumers.</param>
/// <param name="Max">Most consumers.</param>
/// <param name="MessagesPerConsumer">Waiting messages per consumer.</param>
/// <param name="ScaleUpStep">Most consumers one decision adds; null for at once.</param>
/// <param name="ScaleDownCooldown">How long fewer consumers must be wanted before scaling down.</param>
/// <param name="ScaleDownHysteresis">Headroom (fraction of depth) a lower level must keep.</param>
internal readonly record struct ScalingRules(int Min, int Max, int MessagesPerConsumer, int? ScaleUpStep, TimeSpan ScaleDownCooldown, double ScaleDownHysteresis)
{
    /// <summary>The same rules for <paramref name="instances"/> instances together: bounds and step multiplied.</summary>
    public ScalingRules ForFleet(int instances) =>
        this with { Min = Min * instances, Max = Max * instances, ScaleUpStep = ScaleUpStep * instances };
}
