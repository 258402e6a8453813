using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.RabbitMQ.Multibroker;

namespace MassTransit;

/// <summary>Adds RabbitMQ brokers to a multibroker.</summary>
public static class RabbitMqMultibrokerConfigurationExtensions
{
    /// <summary>
    /// Adds the RabbitMQ broker at <paramref name="hostAddress"/> (credentials and connection settings
    /// in <paramref name="host"/>) under <paramref name="name"/>, with <paramref name="weight"/>;
    /// <paramref name="configure"/> adds RabbitMQ settings to its bus. Brokers are independent nodes
    /// (not a cluster): each holds its own copy of every queue.
    /// </summary>
    public static IMultibrokerConfigurator RabbitMqBroker(this IMultibrokerConfigurator configurator, string name, Uri hostAddress,
        Action<IRabbitMqHostConfigurator>? host = null, int weight = 1, Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        return configurator.Broker(name, new RabbitMqMultibrokerTransport(hostAddress, host, configure), weight);
    }
}
