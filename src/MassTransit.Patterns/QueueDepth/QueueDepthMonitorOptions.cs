using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.QueueDepth;

/// <summary>How the <see cref="QueueDepthMonitor"/> polls its probe.</summary>
public sealed class QueueDepthMonitorOptions : IPatternOptions
{
    /// <summary>The queues to poll. Patterns add the queues they watch; you may add more.</summary>
    public ISet<string> Queues { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Time between two readings of each queue. Default 1 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long one reading may take before it counts as a failed reading (<see cref="QueueDepthFailure.Timeout"/>),
    /// whatever the probe does: a probe that ignores its cancellation is no longer waited for and its
    /// late answer is discarded. Default 5 s.
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.Positive(PollInterval, nameof(PollInterval))
            .Positive(ProbeTimeout, nameof(ProbeTimeout))
            .Require(Queues.All(q => !string.IsNullOrWhiteSpace(q)), nameof(Queues), "must not contain an empty queue name.");
    }
}
