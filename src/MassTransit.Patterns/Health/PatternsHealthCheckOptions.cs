using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Health;

/// <summary>
/// Thresholds of the patterns' health checks (<c>services.AddHealthChecks().AddPatternsChecks(o => ...)</c>). Each
/// condition has a Degraded and an Unhealthy threshold; a component that is not registered is not checked.
/// </summary>
public sealed class PatternsHealthCheckOptions : IPatternOptions
{
    /// <summary>The tags of every check, to select them with <c>MapHealthChecks</c>'s predicate. Default <c>patterns</c>.</summary>
    public List<string> Tags { get; } = ["patterns"];

    /// <summary>
    /// How long a check waits for a store or an outbox to answer a read. A read that takes longer (or ignores its
    /// cancellation) is abandoned and reported with <see cref="ReadFailureStatus"/>: the health endpoint never hangs on it. Default 5 s.
    /// </summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The status of a check whose read failed or did not answer within <see cref="ReadTimeout"/>. Default Unhealthy.</summary>
    public HealthStatus ReadFailureStatus { get; set; } = HealthStatus.Unhealthy;

    /// <summary>Failed depth readings in a row of a watched queue that make the queue depth check Degraded. Default 1.</summary>
    public int QueueDepthFailuresDegraded { get; set; } = 1;

    /// <summary>Failed depth readings in a row of a watched queue that make the queue depth check Unhealthy. Default 3.</summary>
    public int QueueDepthFailuresUnhealthy { get; set; } = 3;

    /// <summary>
    /// Age of a queue's latest reading past which it is stale (the monitor no longer polls it): the check is Degraded.
    /// Keep it well above the monitor's <c>PollInterval</c> plus <c>ProbeTimeout</c>. Default 1 min (the monitor polls
    /// every second by default).
    /// </summary>
    public TimeSpan QueueDepthStaleAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Brokers out of rotation (ejected, disconnected, probing or starting) that make the multibroker check Degraded. Default 1.</summary>
    public int BrokersOutDegraded { get; set; } = 1;

    /// <summary>The multibroker check is Unhealthy when fewer brokers than this are in rotation. Default 1 (every broker out).</summary>
    public int BrokersInRotationUnhealthyBelow { get; set; } = 1;

    /// <summary>Undelivered outbox rows that make the outbox check Degraded. Default 1000.</summary>
    public long OutboxBacklogDegraded { get; set; } = 1000;

    /// <summary>Undelivered outbox rows that make the outbox check Unhealthy. Default 10000.</summary>
    public long OutboxBacklogUnhealthy { get; set; } = 10000;

    /// <summary>Age of the oldest undelivered outbox row that makes the outbox check Degraded. Default 1 min.</summary>
    public TimeSpan OutboxOldestAgeDegraded { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Age of the oldest undelivered outbox row that makes the outbox check Unhealthy. Default 10 min.</summary>
    public TimeSpan OutboxOldestAgeUnhealthy { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Workflow messages waiting for a person (state <c>AwaitingPerson</c>) that make the workflow check Degraded. Default 1.</summary>
    public long AwaitingPersonDegraded { get; set; } = 1;

    /// <summary>Workflow messages waiting for a person that make the workflow check Unhealthy. Default 100.</summary>
    public long AwaitingPersonUnhealthy { get; set; } = 100;

    /// <summary>How long the oldest message waiting for a person may have waited (since it was received) before the workflow check is Degraded. Default 1 h.</summary>
    public TimeSpan AwaitingPersonAgeDegraded { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long the oldest message waiting for a person may have waited before the workflow check is Unhealthy. Default 24 h.</summary>
    public TimeSpan AwaitingPersonAgeUnhealthy { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Failed registrations or renewals in a row of a watcher (its source unreachable or not answering) that make the watch check Degraded. Default 1.</summary>
    public int WatchFailuresDegraded { get; set; } = 1;

    /// <summary>
    /// Failed registrations or renewals in a row of a watcher that make the watch check Unhealthy. Default 3. A watcher
    /// that its source refused is Unhealthy at once (it stops trying).
    /// </summary>
    public int WatchFailuresUnhealthy { get; set; } = 3;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        ArgumentNullException.ThrowIfNull(validator);
        validator.Require(Tags.Count > 0, nameof(Tags), "must hold at least one tag (the checks are selected by tag).");
        for (var i = 0; i < Tags.Count; i++)
            validator.NotEmpty(Tags[i], $"{nameof(Tags)}[{i}]");
        validator.Positive(ReadTimeout, nameof(ReadTimeout))
            .Require(ReadFailureStatus is HealthStatus.Degraded or HealthStatus.Unhealthy, nameof(ReadFailureStatus),
                $"must be Degraded or Unhealthy (was {ReadFailureStatus}).");
        Pair(validator, QueueDepthFailuresDegraded, QueueDepthFailuresUnhealthy, nameof(QueueDepthFailuresDegraded), nameof(QueueDepthFailuresUnhealthy));
        validator.Positive(QueueDepthStaleAfter, nameof(QueueDepthStaleAfter));
        validator.Positive(BrokersOutDegraded, nameof(BrokersOutDegraded))
            .NotNegative(BrokersInRotationUnhealthyBelow, nameof(BrokersInRotationUnhealthyBelow));
        Pair(validator, OutboxBacklogDegraded, OutboxBacklogUnhealthy, nameof(OutboxBacklogDegraded), nameof(OutboxBacklogUnhealthy));
        Pair(validator, OutboxOldestAgeDegraded, OutboxOldestAgeUnhealthy, nameof(OutboxOldestAgeDegraded), nameof(OutboxOldestAgeUnhealthy));
        Pair(validator, AwaitingPersonDegraded, AwaitingPersonUnhealthy, nameof(AwaitingPersonDegraded), nameof(AwaitingPersonUnhealthy));
        Pair(validator, AwaitingPersonAgeDegraded, AwaitingPersonAgeUnhealthy, nameof(AwaitingPersonAgeDegraded), nameof(AwaitingPersonAgeUnhealthy));
        Pair(validator, WatchFailuresDegraded, WatchFailuresUnhealthy, nameof(WatchFailuresDegraded), nameof(WatchFailuresUnhealthy));
    }

    static void Pair(OptionsValidator validator, long degraded, long unhealthy, string degradedName, string unhealthyName) =>
        validator.Positive(degraded, degradedName)
            .Positive(unhealthy, unhealthyName)
            .Require(unhealthy >= degraded, unhealthyName, $"must not be below {degradedName} ({degraded}) (was {unhealthy}).");

    static void Pair(OptionsValidator validator, TimeSpan degraded, TimeSpan unhealthy, string degradedName, string unhealthyName) =>
        validator.Positive(degraded, degradedName)
            .Positive(unhealthy, unhealthyName)
            .Require(unhealthy >= degraded, unhealthyName, $"must not be below {degradedName} ({degraded}) (was {unhealthy}).");
}
