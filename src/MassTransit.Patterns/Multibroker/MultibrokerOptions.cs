using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Multibroker;

/// <summary>Options of the multibroker pattern: strategy, send policy, health and failover.</summary>
public sealed class MultibrokerOptions : IPatternOptions
{
    /// <summary>How messages are spread over the brokers (default <see cref="MultibrokerStrategy.RoundRobin"/>).</summary>
    public MultibrokerStrategy Strategy { get; set; } = MultibrokerStrategy.RoundRobin;

    /// <summary>
    /// How long one attempt on one broker may take until the broker confirms (RabbitMQ publisher
    /// confirm); then the attempt counts as a failure and the message goes to the next broker (default 10 s).
    /// </summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an attempt may wait for its confirm before the same message (same message id) is also
    /// sent to the next broker, as a hedge: the first confirm completes the send, the slow attempt is
    /// cancelled and counts as a failure of its broker (ejecting it, see <see cref="FailuresToEject"/>).
    /// This bounds the latency a hung broker (connection open, nothing answering) adds to a send to about
    /// this delay, instead of <see cref="SendTimeout"/>. The slow broker may still hold a copy: consumers
    /// of this process run it once (<see cref="Deduplicate"/>); across processes use a durable inbox.
    /// Null turns hedging off (default 500 ms). Requests (<c>GetResponse</c>) are never hedged, nor are
    /// messages with a key under <see cref="MultibrokerStrategy.KeyHash"/> (a hedge would move a key to
    /// another broker while its broker is merely slow: per-key order comes first).
    /// </summary>
    public TimeSpan? HedgeDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Brokers tried for one message before the send fails, hedges included; 0 = each broker once (default 0).</summary>
    public int MaxSendAttempts { get; set; }

    /// <summary>Consecutive failed sends (no confirm, timeout, connection error) that take a broker out of rotation (default 1).</summary>
    public int FailuresToEject { get; set; } = 1;

    /// <summary>
    /// How long a broker stays out of rotation after failed sends or a failed probe, doubled at each
    /// ejection in a row (default 2 s). When it is over the broker comes back only once a probe gets
    /// through (<see cref="BrokerState.Probing"/>).
    /// </summary>
    public TimeSpan EjectionTime { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Upper bound of the doubled ejection time (default 1 min).</summary>
    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often each broker's bus health (its connection and receive endpoints) is read (default 500 ms).</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long a probe may take: a real round trip to the broker (RabbitMQ: a passive declare on a
    /// connection of the probe's own), made before an ejected broker rejoins and every
    /// <see cref="ProbeInterval"/> while it is in rotation. A probe without an answer in time ejects the
    /// broker (default 1 s).
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often a broker in rotation is probed, so that a hung broker leaves the rotation even when no
    /// send finds it; null probes only ejected brokers (default 5 s).
    /// </summary>
    public TimeSpan? ProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one start of a broker's bus may take; a broker that does not start is retried every <see cref="RestartInterval"/> (default 30 s).</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Pause between start attempts of a broker whose bus did not start (default 5 s).</summary>
    public TimeSpan RestartInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Brokers that must have started before the host's start completes (default 1; the others join when they start).</summary>
    public int MinimumBrokersAtStart { get; set; } = 1;

    /// <summary>
    /// Consumers in this process run each message id once across the brokers (default true): the copy a
    /// failed-over send may leave on the broker that failed is acknowledged without running the consumer.
    /// In-process only; with several consumer processes use a durable inbox (event forwarding).
    /// </summary>
    public bool Deduplicate { get; set; } = true;

    /// <summary>How long a consumed message id is remembered (default 1 min): covers a copy whose send failed over after the broker had it.</summary>
    public TimeSpan DeduplicationWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long the id of a failed-over copy is remembered (default 1 h): covers the other copy coming back with its broker.</summary>
    public TimeSpan FailoverDeduplicationWindow { get; set; } = TimeSpan.FromHours(1);

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.Require(Enum.IsDefined(Strategy), nameof(Strategy), $"must be RoundRobin, Weighted or KeyHash (was {Strategy}).");
        validator.Positive(SendTimeout, nameof(SendTimeout));
        validator.Require(HedgeDelay is null || HedgeDelay > TimeSpan.Zero, nameof(HedgeDelay), $"must be greater than zero, or null to turn hedging off (was {HedgeDelay}).");
        validator.Require(HedgeDelay is null || HedgeDelay < SendTimeout, nameof(HedgeDelay), $"must be shorter than SendTimeout ({SendTimeout}), or no hedge would ever start (was {HedgeDelay}).");
        validator.NotNegative(MaxSendAttempts, nameof(MaxSendAttempts));
        validator.Positive(FailuresToEject, nameof(FailuresToEject));
        validator.Positive(EjectionTime, nameof(EjectionTime));
        validator.Require(MaxEjectionTime >= EjectionTime, nameof(MaxEjectionTime), $"must be at least EjectionTime ({EjectionTime}) (was {MaxEjectionTime}).");
        validator.Positive(HealthCheckInterval, nameof(HealthCheckInterval));
        validator.Positive(ProbeTimeout, nameof(ProbeTimeout));
        validator.Require(ProbeInterval is null || ProbeInterval > TimeSpan.Zero, nameof(ProbeInterval), $"must be greater than zero, or null to probe ejected brokers only (was {ProbeInterval}).");
        validator.Positive(StartTimeout, nameof(StartTimeout));
        validator.Positive(RestartInterval, nameof(RestartInterval));
        validator.NotNegative(MinimumBrokersAtStart, nameof(MinimumBrokersAtStart));
        validator.Positive(DeduplicationWindow, nameof(DeduplicationWindow));
        validator.Positive(FailoverDeduplicationWindow, nameof(FailoverDeduplicationWindow));
    }
}
