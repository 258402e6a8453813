namespace MassTransit.Patterns.Supervisor;

/// <summary>What a supervised endpoint's supervisor shows of itself.</summary>
public interface IConsumerSupervisor
{
    /// <summary>The queue it follows.</summary>
    string Queue { get; }

    /// <summary>Its options.</summary>
    SupervisorOptions Options { get; }

    /// <summary>The endpoint's current concurrency limit (target concurrency).</summary>
    int Limit { get; }

    /// <summary>Messages being consumed now (actual concurrency).</summary>
    int Active { get; }

    /// <summary>Delivered messages waiting for a consumer now.</summary>
    int Waiting { get; }

    /// <summary>The most messages consumed at once since the endpoint was built.</summary>
    int PeakActive { get; }

    /// <summary>Looks taken so far.</summary>
    long Ticks { get; }

    /// <summary>Depth readings that failed (each held the level).</summary>
    long ProbeFailures { get; }

    /// <summary>Heartbeats the fleet saga did not answer.</summary>
    long FleetFailures { get; }

    /// <summary>Integral of the limit over time since start, in consumer-seconds.</summary>
    double ConsumerSeconds { get; }

    /// <summary>The last look, or null before the first.</summary>
    SupervisorTick? LastTick { get; }

    /// <summary>
    /// The latest looks, oldest first: at most <see cref="SupervisorOptions.TickHistorySize"/> of them (a bounded
    /// ring kept by the supervisor itself, so a dashboard reads the last minutes without subscribing). A copy.
    /// </summary>
    IReadOnlyList<SupervisorTick> RecentTicks { get; }

    /// <summary>Raised after every look, on the supervisor's loop: keep handlers short.</summary>
    event Action<SupervisorTick>? Ticked;
}
