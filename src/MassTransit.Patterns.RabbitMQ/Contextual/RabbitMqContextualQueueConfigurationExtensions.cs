using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;

namespace MassTransit;

/// <summary><c>cfg.UseContextualQueues&lt;TMessage&gt;(context, broker, x => ...)</c> on RabbitMQ.</summary>
public static class RabbitMqContextualQueueConfigurationExtensions
{
    /// <summary>
    /// Adds contextual queues for <typeparamref name="TMessage"/> on RabbitMQ: a routing exchange with the default
    /// queue as its alternate exchange, a queue per context created on first sight, bucketing beyond the cap, and
    /// retirement of idle queues. <paramref name="broker"/> is used for run-time bindings and deletions.
    /// Configures the <see cref="ContextualRouting{TMessage}"/> registered by <c>AddContextualQueues&lt;TMessage&gt;()</c>;
    /// producers send to its <see cref="ContextualRouting.RouterAddress"/>.
    /// </summary>
    public static void UseContextualQueues<TMessage>(this IRabbitMqBusFactoryConfigurator configurator, IRegistrationContext context,
        RabbitMqProbeOptions broker, Action<ContextualQueueConfigurator<TMessage>> configure)
        where TMessage : class =>
        ContextualQueueSetup.Apply(configurator, context, configure, new RabbitMqContextualQueueTransport(broker));
}
