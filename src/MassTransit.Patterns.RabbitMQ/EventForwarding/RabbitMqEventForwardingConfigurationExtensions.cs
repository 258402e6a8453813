using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.RabbitMQ.EventForwarding;
using MassTransit.RabbitMqTransport.Configuration;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit;

/// <summary>Event forwarding on RabbitMQ: durable queues, persistent and confirmed sends, acknowledgement after the consumer.</summary>
public static class RabbitMqEventForwardingConfigurationExtensions
{
    /// <summary>
    /// The no-loss settings of event forwarding in one line. Call it before <c>ConfigureEndpoints</c>:
    /// <list type="bullet">
    /// <item>at bus start, fails (or warns, see <see cref="EventForwardingOptions.OnViolation"/>) when
    /// publisher confirms are off or a receive endpoint's queue is not durable, auto-deletes, is
    /// exclusive, expires, drops its head when full, is purged on start-up or acknowledges on delivery
    /// (NoAck);</item>
    /// <item>refuses a send that is not persistent or does not await the broker's confirmation, and makes
    /// sends mandatory so that an exchange with no queue returns the message instead of dropping it;</item>
    /// <item>optionally declares every queue as a quorum queue.</item>
    /// </list>
    /// MassTransit already acknowledges a message only after its consumers (and the transaction the
    /// EF Core outbox wraps them in) completed; producers get confirmed, resent sends from
    /// <see cref="IEventForwarder"/> (register it with <c>AddEventForwarding</c>).
    /// </summary>
    public static void UseEventForwarding(this IRabbitMqBusFactoryConfigurator configurator, IRegistrationContext context,
        Action<RabbitMqEventForwardingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);

        var rabbit = new RabbitMqEventForwardingOptions();
        configure?.Invoke(rabbit);
        rabbit.EnsureValid();

        var check = EventForwardingConfigurationExtensions.Apply(configurator, context);
        IBusInstance? BusInstance() => context.GetService<IBusInstance>();

        var endpoints = new RabbitMqEndpointChecks(rabbit);
        configurator.ConnectEndpointConfigurationObserver(endpoints);
        var guard = new RabbitMqSendGuard(rabbit, check.Options, EventForwardingConfigurationExtensions.CreateLogger(context), check.Metrics, BusInstance);
        configurator.ConnectSendObserver(guard);
        configurator.ConnectPublishObserver(guard);

        check.AddTransport("RabbitMQ", HostCheck, endpoints.Check);
    }

    static IEnumerable<EventForwardingViolation> HostCheck(EventForwardingCheckContext context)
    {
        if (context.BusInstance?.HostConfiguration is IRabbitMqHostConfiguration { PublisherConfirmation: false } host)
            yield return new($"RabbitMQ host {host.HostAddress}: PublisherConfirmation = false",
                "sends return before the broker has the message: a broker crash or a full queue loses it silently.");
    }
}
