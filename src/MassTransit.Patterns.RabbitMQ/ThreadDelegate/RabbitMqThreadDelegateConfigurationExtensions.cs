using MassTransit.Patterns.RabbitMQ.ThreadDelegate;
using MassTransit.Patterns.ThreadDelegate;
using RabbitMQ.Client;

namespace MassTransit;

/// <summary>The thread delegate on RabbitMQ: per-key order by delivery tag, and stripes across service instances.</summary>
public static class RabbitMqThreadDelegateConfigurationExtensions
{
    /// <summary>Orders deliveries by their RabbitMQ delivery tag (exact delivery order per channel).</summary>
    public static ThreadDelegateOptions UseRabbitMqDeliveryOrder(this ThreadDelegateOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.DeliveryOrder = RabbitMqDeliveryOrder.Instance;
        return options;
    }

    /// <summary>
    /// The thread delegate on a RabbitMQ receive endpoint, ordered by delivery tag (see
    /// <see cref="ThreadDelegateConfigurationExtensions.UseThreadDelegate(IReceiveEndpointConfigurator, IRegistrationContext, Action{ThreadDelegateOptions})"/>).
    /// </summary>
    public static void UseThreadDelegate(this IRabbitMqReceiveEndpointConfigurator configurator, IRegistrationContext context, Action<ThreadDelegateOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        ThreadDelegateConfigurationExtensions.UseThreadDelegate(configurator, context, o =>
        {
            o.UseRabbitMqDeliveryOrder();
            configure(o);
        });
    }

    /// <summary>Orders messages of type <typeparamref name="T"/> by <paramref name="key"/> on a RabbitMQ receive endpoint, by delivery tag.</summary>
    public static void UseThreadDelegate<T>(this IRabbitMqReceiveEndpointConfigurator configurator, IRegistrationContext context, Func<T, string?> key,
        Action<ThreadDelegateOptions>? configure = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        configurator.UseThreadDelegate(context, o =>
        {
            o.Key(key);
            configure?.Invoke(o);
        });
    }

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
        configurator.Send<T>(s => s.UseRoutingKeyFormatter(context => RabbitMqThreadDelegateStripes.StripeOf(key(context.Message) ?? "", stripes).ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// Consumer side: declares <paramref name="stripes"/> receive endpoints <c>{queuePrefix}-stripe-{i}</c>,
    /// each a single-active-consumer queue bound to <typeparamref name="T"/>'s direct exchange with
    /// routing key <c>i</c>, ordered by the thread delegate with <paramref name="key"/> and RabbitMQ delivery
    /// tags. <paramref name="configureEndpoint"/> adds the consumers (e.g. <c>e.ConfigureConsumer&lt;C&gt;(context)</c>).
    /// Every service instance calls it with the same arguments.
    /// </summary>
    public static void ThreadDelegateStripeEndpoints<T>(this IRabbitMqBusFactoryConfigurator configurator, IRegistrationContext context, string queuePrefix, int stripes, Func<T, string?> key,
        Action<IRabbitMqReceiveEndpointConfigurator, int> configureEndpoint, Action<ThreadDelegateOptions>? configure = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentException.ThrowIfNullOrWhiteSpace(queuePrefix);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(configureEndpoint);
        ArgumentOutOfRangeException.ThrowIfLessThan(stripes, 1);

        for (var stripe = 0; stripe < stripes; stripe++)
        {
            var routingKey = stripe.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var index = stripe;
            configurator.ReceiveEndpoint(RabbitMqThreadDelegateStripes.StripeQueueName(queuePrefix, stripe), e =>
            {
                e.ConfigureConsumeTopology = false;
                e.SingleActiveConsumer = true;
                e.Bind<T>(b =>
                {
                    b.ExchangeType = ExchangeType.Direct;
                    b.RoutingKey = routingKey;
                });
                e.UseThreadDelegate(context, o =>
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
