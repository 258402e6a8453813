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

    /// <summary>
    /// Producer side: messages of <typeparamref name="T"/> are published to a direct exchange with the
    /// key's stripe as routing key. Use the same <paramref name="stripes"/> and key as the consumers.
    /// </summary>
    public static void UseThreadDelegateStripeRouting<T>(this IRabbitMqBusFactoryConfigurator configurator, int stripes, Func<T, string?> key)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(stripes, 1);
        configurator.Publish<T>(p => p.ExchangeType = ExchangeType.Direct);
        configurator.Send<T>(s => s.UseRoutingKeyFormatter(context => StripeOf(key(context.Message) ?? "", stripes).ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// Consumer side: declares <paramref name="stripes"/> receive endpoints <c>{queuePrefix}-stripe-{i}</c>,
    /// each a single-active-consumer queue bound to <typeparamref name="T"/>'s direct exchange with
    /// routing key <c>i</c>, ordered by the thread delegate with <paramref name="key"/> and RabbitMQ delivery
    /// tags. <paramref name="configureEndpoint"/> adds the consumers (e.g. <c>e.ConfigureConsumer&lt;C&gt;(context)</c>).
    /// Every service instance calls it with the same arguments.
    /// </summary>
    public static void ThreadDelegateStripeEndpoints<T>(this IRabbitMqBusFactoryConfigurator configurator, string queuePrefix, int stripes, Func<T, string?> key,
        Action<IRabbitMqReceiveEndpointConfigurator, int> configureEndpoint, Action<ThreadDelegateOptions>? configure = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentException.ThrowIfNullOrWhiteSpace(queuePrefix);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(configureEndpoint);
        ArgumentOutOfRangeException.ThrowIfLessThan(stripes, 1);

        for (var stripe = 0; stripe < stripes; stripe++)
        {
            var routingKey = stripe.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var index = stripe;
            configurator.ReceiveEndpoint(StripeQueueName(queuePrefix, stripe), e =>
            {
                e.ConfigureConsumeTopology = false;
                e.SingleActiveConsumer = true;
                e.Bind<T>(b =>
                {
                    b.ExchangeType = ExchangeType.Direct;
                    b.RoutingKey = routingKey;
                });
                e.UseThreadDelegate(o =>
                {
                    o.Key(key);
                    o.UseRabbitMqDeliveryOrder();
                    configure?.Invoke(o);
                });
                configureEndpoint(e, index);
            });
        }
    }
}
