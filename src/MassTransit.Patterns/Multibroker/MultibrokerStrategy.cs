using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Multibroker;

/// <summary>How the multibroker facade picks the broker for each message.</summary>
public enum MultibrokerStrategy
{
    /// <summary>Each healthy broker in turn.</summary>
    RoundRobin,

    /// <summary>Healthy brokers in proportion to their weight (smooth weighted round-robin).</summary>
    Weighted,

    /// <summary>
    /// By a key of the message (rendezvous hash over the brokers, weighted): one key always goes to the
    /// same broker while it is healthy, so per-key order holds; when it leaves, only its keys move, each
    /// to its own next broker. Messages without a key fall back to round-robin.
    /// </summary>
    KeyHash
}
