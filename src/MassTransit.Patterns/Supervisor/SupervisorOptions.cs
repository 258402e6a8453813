using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Supervisor;

/// <summary>
/// How a supervised receive endpoint follows its queue's depth: the consumers it may use, how many
/// waiting messages each consumer is worth, how often it looks and how it avoids flapping.
/// </summary>
public sealed class SupervisorOptions : IPatternOptions
{
    /// <summary>
    /// The queue whose depth is read. Default: the receive endpoint's own queue (the last segment of
    /// its input address).
    /// </summary>
    public string? Queue { get; set; }

    /// <summary>The fewest consumers the endpoint keeps, even when its queue is empty. Default 1.</summary>
    public int MinConsumers { get; set; } = 1;

    /// <summary>
    /// The most consumers the endpoint may use. The transport's concurrent message limit and prefetch
    /// are set to this value, so the transport is never the bottleneck. Default 16.
    /// </summary>
    public int MaxConsumers { get; set; } = 16;

    /// <summary>Waiting messages one consumer is expected to handle: consumers wanted = ceil(depth / this). Default 10.</summary>
    public int MessagesPerConsumer { get; set; } = 10;

    /// <summary>Time between two depth readings (and decisions). Default 1 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long one depth reading may take before it counts as a failure (the level holds). The bound
    /// holds whatever the probe does: a probe that ignores its cancellation is no longer waited for,
    /// its late answer is discarded, and no second call starts while it hangs. Default 5 s.
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most consumers one decision may add; null (the default) scales up to the wanted level at once.</summary>
    public int? ScaleUpStep { get; set; }

    /// <summary>
    /// How long the depth must have wanted fewer consumers, at every reading, before the endpoint
    /// scales down (to the highest level wanted during that time). Default 30 s.
    /// </summary>
    public TimeSpan ScaleDownCooldown { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Headroom required to scale down, as a fraction: a lower level is only wanted when the depth
    /// plus this fraction of it still fits in that level. It keeps a depth hovering at a threshold
    /// from flipping the level. Default 0.2; 0 turns it off.
    /// </summary>
    public double ScaleDownHysteresis { get; set; } = 0.2;

    /// <summary>
    /// What counts as depth. <see cref="DepthMeasure.Ready"/> (the default) counts messages waiting in
    /// the broker plus those this endpoint holds waiting for a consumer;
    /// <see cref="DepthMeasure.ReadyAndUnacknowledged"/> adds every delivered, unsettled message and
    /// needs a probe that knows them (RabbitMQ management API, in-memory).
    /// </summary>
    public DepthMeasure DepthMeasure { get; set; } = DepthMeasure.Ready;

    /// <summary>
    /// How many of its latest looks (<see cref="SupervisorTick"/>) the supervisor keeps in
    /// <see cref="IConsumerSupervisor.RecentTicks"/>, for dashboards: a bounded ring, one entry per poll interval.
    /// Default 300 (the last 5 minutes at the default 1 s poll interval); 0 keeps none.
    /// </summary>
    public int TickHistorySize { get; set; } = 300;

    /// <summary>
    /// A fixed number of service instances sharing the queue, to divide the wanted consumers by when
    /// no fleet saga coordinates them. Default 1. Must stay 1 with <see cref="Fleet"/>, which counts
    /// live instances itself.
    /// </summary>
    public int InstanceCount { get; set; } = 1;

    /// <summary>
    /// Coordinate with the other instances of the service through the supervisor saga instead of
    /// deciding alone; null (the default) decides locally. See <see cref="UseFleet"/>.
    /// </summary>
    public SupervisorFleetOptions? Fleet { get; set; }

    /// <summary>Turns on fleet mode: the supervisor saga assigns this instance its share of the fleet's target.</summary>
    public SupervisorOptions UseFleet(Action<SupervisorFleetOptions>? configure = null)
    {
        Fleet ??= new SupervisorFleetOptions();
        configure?.Invoke(Fleet);
        return this;
    }

    /// <summary>The scaling rules of one instance, as the policy applies them.</summary>
    internal ScalingRules Rules => new(MinConsumers, MaxConsumers, MessagesPerConsumer, ScaleUpStep, ScaleDownCooldown, ScaleDownHysteresis);

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.InRange(MinConsumers, 1, ushort.MaxValue, nameof(MinConsumers))
            .InRange(MaxConsumers, 1, ushort.MaxValue, nameof(MaxConsumers))
            .Require(MaxConsumers >= MinConsumers, nameof(MaxConsumers), $"must not be less than MinConsumers ({MinConsumers}) (was {MaxConsumers}).")
            .Positive(MessagesPerConsumer, nameof(MessagesPerConsumer))
            .Positive(PollInterval, nameof(PollInterval))
            .Positive(ProbeTimeout, nameof(ProbeTimeout))
            .Require(ScaleUpStep is null or > 0, nameof(ScaleUpStep), $"must be greater than zero, or null to scale up at once (was {ScaleUpStep}).")
            .NotNegative(ScaleDownCooldown, nameof(ScaleDownCooldown))
            .Require(ScaleDownHysteresis is >= 0 and < 1, nameof(ScaleDownHysteresis), $"must be at least 0 and less than 1 (was {ScaleDownHysteresis}).")
            .Require(Enum.IsDefined(DepthMeasure), nameof(DepthMeasure), $"must be Ready or ReadyAndUnacknowledged (was {DepthMeasure}).")
            .Positive(InstanceCount, nameof(InstanceCount))
            .InRange(TickHistorySize, 0, 100_000, nameof(TickHistorySize))
            .Require(Queue is null || !string.IsNullOrWhiteSpace(Queue), nameof(Queue), "must not be empty (leave it null to use the endpoint's queue).");
        if (Fleet is { } fleet)
        {
            validator.Require(InstanceCount == 1, nameof(InstanceCount), $"must be 1 in fleet mode, where the saga divides by the live instances (was {InstanceCount}).")
                .Positive(fleet.RequestTimeout, "Fleet.RequestTimeout")
                .Require(fleet.InstanceTimeout is null || fleet.InstanceTimeout > PollInterval, "Fleet.InstanceTimeout",
                    $"must be longer than PollInterval ({PollInterval}), or an instance drops out between two heartbeats (was {fleet.InstanceTimeout}).")
                .Positive(fleet.FallbackAfterFailures, "Fleet.FallbackAfterFailures")
                .Require(fleet.InstanceId is null || !string.IsNullOrWhiteSpace(fleet.InstanceId), "Fleet.InstanceId", "must not be empty (leave it null for a unique one).");
        }
    }
}
