using MassTransit.Patterns.ThreadDelegate;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.ThreadDelegate;

/// <summary>
/// Per-key order across several service instances on RabbitMQ. The thread delegate orders a key's
/// messages inside one consumer; competing instances on one queue would break that order. Stripes
/// restore it: the message type's exchange becomes a direct exchange, a producer routes each message
/// to stripe <c>StripeOf(key, stripes)</c>, and each stripe is its own queue declared with
/// <c>x-single-active-consumer</c>, so the broker delivers a stripe to one instance at a time (another
/// takes over when it goes away). Inside the active instance, the stripe's keys run in parallel on the
/// thread delegate's lanes, ordered by delivery tag.
/// </summary>
/// <remarks>
/// Single active consumer gives order and fail-over, not load spreading: the first instance to
/// subscribe to a stripe stays its consumer. Use at least as many stripes as instances and expect one
/// instance to carry the stripes it subscribed to first. Changing the stripe count re-routes keys:
/// drain the stripes before changing it.
/// </remarks>
public static class RabbitMqThreadDelegateStripes
{
    /// <summary>The stripe of <paramref name="key"/>: the same in every process (FNV-1a of the key).</summary>
    public static int StripeOf(string key, int stripes)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(stripes, 1);
        return (int)(ThreadDelegateHash.Of(key) % (uint)stripes);
    }

    /// <summary>The queue name of stripe <paramref name="stripe"/>: <c>{prefix}-stripe-{stripe}</c>.</summary>
    public static string StripeQueueName(string prefix, int stripe) => $"{prefix}-stripe-{stripe}";
}
