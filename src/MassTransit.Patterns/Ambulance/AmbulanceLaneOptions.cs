using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The lane beside one queue: its name, its own concurrency and prefetch, and the mode. Validated
/// when the bus starts; a bad value fails the start with the option named.
/// </summary>
public sealed class AmbulanceLaneOptions : IPatternOptions
{
    /// <summary>The default <see cref="Suffix"/>: <c>_lane</c>, after MassTransit's own <c>_error</c> and <c>_skipped</c>.</summary>
    public const string DefaultSuffix = "_lane";

    /// <summary>The normal queue (receive endpoint name) the lane stands beside.</summary>
    public string QueueName { get; set; } = "";

    /// <summary>Appended to <see cref="QueueName"/> to name the lane queue. Default <c>_lane</c>.</summary>
    public string Suffix { get; set; } = DefaultSuffix;

    /// <summary>The lane queue's name, when not <see cref="QueueName"/> + <see cref="Suffix"/>.</summary>
    public string? LaneQueueName { get; set; }

    /// <summary>The lane queue's name as used: <see cref="LaneQueueName"/>, else <see cref="QueueName"/> + <see cref="Suffix"/>.</summary>
    public string LaneName => string.IsNullOrWhiteSpace(LaneQueueName) ? QueueName + Suffix : LaneQueueName;

    /// <summary>
    /// The exchange that forks urgent messages from the queue's exchange to the lane:
    /// <see cref="LaneName"/> + <c>.urgent</c>.
    /// </summary>
    public string ForkExchangeName => LaneName + ".urgent";

    /// <summary>Ambulance (idle lane slots take normal work) or carpool (lane slots serve the lane only). Default ambulance.</summary>
    public AmbulanceMode Mode { get; set; } = AmbulanceMode.Ambulance;

    /// <summary>How many urgent messages the lane consumes at once (its reserved slots). Default 2.</summary>
    public int ConcurrentMessageLimit { get; set; } = 2;

    /// <summary>
    /// How many urgent messages the lane endpoint takes from its queue at once (its prefetch and its
    /// endpoint concurrency); at most <see cref="ConcurrentMessageLimit"/> of them run, the others
    /// wait at the shared budget, first in line for the next freed slot. Default twice
    /// <see cref="ConcurrentMessageLimit"/>; at least <see cref="ConcurrentMessageLimit"/>. Keep it
    /// low: the lane only ever holds urgent messages, but each one taken is ahead of the next.
    /// </summary>
    public int? PrefetchCount { get; set; }

    /// <summary>
    /// Optional weighting, ambulance mode only. Null (the default) is strict priority: a freed slot
    /// goes to a waiting urgent message before any waiting normal one. A value w hands, while both
    /// wait, w freed slots to urgent work for each one to normal work.
    /// </summary>
    public int? UrgentWeight { get; set; }

    /// <summary>The lane's prefetch as used.</summary>
    public int EffectivePrefetchCount => PrefetchCount ?? 2 * ConcurrentMessageLimit;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.NotEmpty(QueueName, nameof(QueueName));
        validator.Require(!string.IsNullOrWhiteSpace(Suffix) || !string.IsNullOrWhiteSpace(LaneQueueName), nameof(Suffix),
            "must not be empty (the lane queue would be the queue itself).");
        if (!string.IsNullOrWhiteSpace(QueueName))
            validator.Require(!string.Equals(LaneName.Trim(), QueueName.Trim(), StringComparison.OrdinalIgnoreCase), nameof(LaneQueueName),
                $"must differ from the queue it stands beside (both are '{QueueName}').");
        validator.Positive(ConcurrentMessageLimit, nameof(ConcurrentMessageLimit));
        if (PrefetchCount is { } prefetch)
            validator.Require(prefetch >= Math.Max(1, ConcurrentMessageLimit), nameof(PrefetchCount),
                $"must be at least ConcurrentMessageLimit ({ConcurrentMessageLimit}) (was {prefetch}).");
        if (UrgentWeight is { } weight)
            validator.Positive(weight, nameof(UrgentWeight));
        validator.Require(Enum.IsDefined(Mode), nameof(Mode), $"must be Ambulance or Carpool (was {(int)Mode}).");
    }
}
