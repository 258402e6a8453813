using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.RabbitMQ.Ambulance;

namespace MassTransit;

/// <summary><c>cfg.UseAmbulanceLane(context, a => ...)</c> on RabbitMQ.</summary>
public static class RabbitMqAmbulanceConfigurationExtensions
{
    /// <summary>
    /// Adds the ambulance lane on RabbitMQ: a lane queue beside each queue named, consumed by the
    /// same consumers with their own concurrency and prefetch, and the classifier that marks urgent
    /// messages. Call it before <c>ConfigureEndpoints</c>.
    /// </summary>
    /// <example>
    /// <code>
    /// x.UsingRabbitMq((context, cfg) =>
    /// {
    ///     cfg.UseAmbulanceLane(context, a => a.Endpoint("orders", lane => lane.ConcurrentMessageLimit = 2));
    ///     cfg.ConfigureEndpoints(context);
    /// });
    /// </code>
    /// </example>
    /// <param name="configurator">The bus being configured.</param>
    /// <param name="context">The bus registration context (the lanes' consumers and sagas are found through it).</param>
    /// <param name="configure">Which messages are urgent and which queues get a lane.</param>
    public static void UseAmbulanceLane(this IRabbitMqBusFactoryConfigurator configurator, IRegistrationContext context,
        Action<AmbulanceConfigurator>? configure = null) =>
        AmbulanceLaneSetup.Apply(configurator, context, configure, RabbitMqAmbulanceLaneTransport.Instance);
}
