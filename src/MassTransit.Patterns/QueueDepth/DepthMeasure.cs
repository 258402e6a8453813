namespace MassTransit.Patterns.QueueDepth;

/// <summary>What counts as depth for a pattern that reacts to it.</summary>
public enum DepthMeasure
{
    /// <summary>Only messages waiting to be delivered.</summary>
    Ready,

    /// <summary>Waiting messages plus those delivered and not yet acknowledged (in flight).</summary>
    ReadyAndUnacknowledged
}
