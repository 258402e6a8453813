using MassTransit.Transports.Fabric;

namespace MassTransit.Patterns.Contextual;

/// <summary>
/// Contextual queues on MassTransit's in-memory transport (and so under the test harness): a direct routing
/// exchange, each context queue bound with its key and the default queue with <see cref="ContextualRouting.DefaultRoutingKey"/>.
/// The in-memory fabric has no alternate exchange, so producers (all in this process) route by the registry:
/// a key is used only once its binding exists and until its retirement starts; everything else goes to the default key.
/// </summary>
internal sealed class InMemoryContextualQueueTransport : IContextualQueueTransport
{
    /// <summary>The shared instance.</summary>
    public static InMemoryContextualQueueTransport Instance { get; } = new();

    /// <inheritdoc />
    public string Name => "in-memory";

    /// <inheritdoc />
    public bool BrokerFallback => false;

    /// <inheritdoc />
    public Uri GetRouterAddress(ContextualQueueOptions options) => new($"exchange:{options.EffectiveRouterExchangeName}?type=Direct");

    /// <inheritdoc />
    public void ConfigureDefaultEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options) =>
        Bind(endpoint, options, ContextualRouting.DefaultRoutingKey);

    /// <inheritdoc />
    public void ConfigureContextEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options, string routingKey) =>
        Bind(endpoint, options, routingKey);

    /// <inheritdoc />
    public Task BindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task UnbindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task<long?> GetReadyCountAsync(string queue, CancellationToken cancellationToken) => Task.FromResult<long?>(null);

    /// <inheritdoc />
    public Task DeleteQueueAsync(string queue, ContextualQueueOptions options, CancellationToken cancellationToken) => Task.CompletedTask;

    static void Bind(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options, string key)
    {
        if (endpoint is not IInMemoryReceiveEndpointConfigurator inMemory)
            throw new ConfigurationException(
                $"Contextual queues of '{options.DefaultQueueName}' use the in-memory transport but the endpoint is a {endpoint.GetType().Name}; use the transport's own UseContextualQueues.");
        inMemory.ConfigureConsumeTopology = false;
        inMemory.Bind(options.EffectiveRouterExchangeName, ExchangeType.Direct, key);
    }
}
