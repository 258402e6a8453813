using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.RabbitMQ.EventForwarding;

/// <summary>The RabbitMQ knobs of event forwarding, given to <c>cfg.UseEventForwarding(context, o =&gt; ...)</c>.</summary>
public sealed class RabbitMqEventForwardingOptions : IPatternOptions
{
    /// <summary>
    /// Declares every receive endpoint's queue as a quorum queue (replicated, fsynced by a Raft log)
    /// instead of a classic durable queue. Send to <c>exchange:NAME</c> then: a queue declared with
    /// arguments cannot be re-declared without them. Default false.
    /// </summary>
    public bool QuorumQueues { get; set; }

    /// <summary>
    /// The initial replication factor of quorum queues; null lets the broker decide (all nodes up to 5). Below 3 the
    /// start-up check warns: a quorum queue needs a majority of its replicas, so with 2 the loss of one node stops it.
    /// </summary>
    public int? QuorumReplicationFactor { get; set; }

    /// <summary>
    /// Marks sends (not publishes, not delayed sends) mandatory, so that a message sent to an exchange
    /// with no queue bound is returned by the broker and counts as unconfirmed instead of being
    /// dropped while the send reports success. Default true.
    /// </summary>
    public bool MandatorySends { get; set; } = true;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .Require(QuorumReplicationFactor is null or >= 1, nameof(QuorumReplicationFactor), $"must be at least 1 when set (was {QuorumReplicationFactor}).")
        .Require(QuorumReplicationFactor is null || QuorumQueues, nameof(QuorumReplicationFactor), "is only used with QuorumQueues = true.");
}
