using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Supervisor;

/// <summary>How an instance takes part in a fleet coordinated by the supervisor saga.</summary>
public sealed class SupervisorFleetOptions
{
    /// <summary>This instance's id in the fleet. Default: a new unique id per supervised endpoint.</summary>
    public string? InstanceId { get; set; }

    /// <summary>
    /// How long to wait for the saga to answer a heartbeat. Default 5 s. A heartbeat whose send has not even reached the
    /// broker by then (MassTransit times a request from its send) is cancelled 1 s later and left behind 1 s after that:
    /// a look never waits longer than this plus 2 s.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// An instance not heard from for this long drops out of the share. Default: three poll intervals
    /// (at least 3 s).
    /// </summary>
    public TimeSpan? InstanceTimeout { get; set; }

    /// <summary>
    /// After this many heartbeats in a row without an answer, the instance decides alone (its depth
    /// divided by the last fleet size it was told) until the saga answers again. Default 5.
    /// </summary>
    public int FallbackAfterFailures { get; set; } = 5;

    internal TimeSpan EffectiveInstanceTimeout(TimeSpan pollInterval) =>
        InstanceTimeout ?? TimeSpan.FromTicks(Math.Max(pollInterval.Ticks * 3, TimeSpan.FromSeconds(3).Ticks));
}
