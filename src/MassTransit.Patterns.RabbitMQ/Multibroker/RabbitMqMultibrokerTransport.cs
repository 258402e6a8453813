using MassTransit.Patterns.Multibroker;

namespace MassTransit.Patterns.RabbitMQ.Multibroker;

/// <summary>
/// A RabbitMQ broker of the multibroker: a MassTransit RabbitMQ bus on its own host, with publisher
/// confirms on (a send returns only once this broker has the message), the pattern's configuration,
/// the caller's, then <c>ConfigureEndpoints</c>. Its probe is a passive declare of <c>amq.direct</c> on
/// a connection of its own (same host settings), so that a hung broker, whose bus still looks
/// connected, is found and kept out of rotation until it answers.
/// </summary>
public sealed class RabbitMqMultibrokerTransport(Uri hostAddress, Action<IRabbitMqHostConfigurator>? host = null,
    Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>? configure = null) : MultibrokerTransport
{
    readonly RabbitMqBrokerProbe _probe = new(hostAddress ?? throw new ArgumentNullException(nameof(hostAddress)), host,
        $"MassTransit.Patterns multibroker probe ({hostAddress.Host}:{hostAddress.Port})");

    /// <summary>The broker's host address, e.g. <c>rabbitmq://host:5672/vhost</c>.</summary>
    public Uri HostAddress { get; } = hostAddress;

    /// <inheritdoc />
    public override Task ProbeAsync(IBusControl bus, CancellationToken cancellationToken) => _probe.ProbeAsync(cancellationToken);

    /// <inheritdoc />
    public override ValueTask CloseProbeAsync() => _probe.CloseAsync();

    /// <inheritdoc />
    public override IBusControl CreateBus(string brokerName, IBusRegistrationContext context, Action<IBusRegistrationContext, IBusFactoryConfigurator> configureBus) =>
        Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(HostAddress, h =>
            {
                h.PublisherConfirmation = true;
                h.ConnectionName($"multibroker-{brokerName}");
                host?.Invoke(h);
            });
            configureBus(context, cfg);
            configure?.Invoke(context, cfg);
            cfg.ConfigureEndpoints(context);
        });
}
