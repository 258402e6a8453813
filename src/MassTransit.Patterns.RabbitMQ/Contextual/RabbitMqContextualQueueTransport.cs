using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MassTransit.Patterns.RabbitMQ.Contextual;

/// <summary>
/// Contextual queues on RabbitMQ. Producers publish to one direct routing exchange keyed by the sanitized
/// context; the exchange is declared with <c>alternate-exchange</c> = the default queue's exchange, so a message
/// whose key has no binding (a new context, a retired one, an invalid key) reaches the default queue, never
/// nowhere. Each context queue is bound to the routing exchange with its key once its endpoint is ready; a bucket
/// queue gets one extra binding per context that joins it. Retirement unbinds first, drains, then binds the
/// context queue's own exchange to the default queue's exchange and deletes the queue only if empty (which removes
/// its binding): a message sent later to the retired queue's address (a workflow resubmission, a redelivery, a
/// stale producer) reaches the default queue instead of nowhere. The exchange is kept, so a send that declares it
/// again finds it as it was. When the context's queue is created again, that forwarding binding is removed before
/// the routing key is bound. Run-time bindings, depth checks and deletion use a small AMQP connection of their own.
/// </summary>
public sealed class RabbitMqContextualQueueTransport : IContextualQueueTransport, IAsyncDisposable
{
    readonly RabbitMqProbeOptions _connection;
    readonly SemaphoreSlim _lock = new(1, 1);
    IConnection? _amqp;

    /// <summary>Creates the topology, with the broker settings used for run-time bindings and queue deletion.</summary>
    public RabbitMqContextualQueueTransport(RabbitMqProbeOptions connection)
    {
        _connection = connection ?? throw new ArgumentNullException(nameof(connection));
    }

    /// <inheritdoc />
    public string Name => "rabbitmq";

    /// <inheritdoc />
    public bool BrokerFallback => true;

    /// <inheritdoc />
    public Uri GetRouterAddress(ContextualQueueOptions options) =>
        new($"exchange:{options.EffectiveRouterExchangeName}?type=direct&alternateexchange={options.DefaultQueueName}");

    /// <inheritdoc />
    public void ConfigureDefaultEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options) =>
        Bind(endpoint, options, ContextualRouting.DefaultRoutingKey);

    /// <inheritdoc />
    /// <remarks>
    /// The routing key is bound in <see cref="ActivateAsync"/>, once the endpoint is ready and after the forwarding of
    /// a retired queue's address is removed: binding it here would deliver routed messages both to the new queue and,
    /// through that forwarding, to the default queue; it would also route again to a queue being retired whose
    /// endpoint is reconnected to drain it.
    /// </remarks>
    public void ConfigureContextEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options, string routingKey) =>
        Rabbit(endpoint, options).ConfigureConsumeTopology = false;

    /// <inheritdoc />
    public async Task ActivateAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken).ConfigureAwait(false);
        // The queue's exchange (declared by its endpoint) forwards to the default queue no longer: from now on its queue receives.
        await channel.ExchangeUnbindAsync(options.DefaultQueueName, queue, "", cancellationToken: cancellationToken).ConfigureAwait(false);
        await channel.ExchangeBindAsync(queue, options.EffectiveRouterExchangeName, routingKey, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task BindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken).ConfigureAwait(false);
        await channel.ExchangeBindAsync(queue, options.EffectiveRouterExchangeName, routingKey, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task UnbindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken).ConfigureAwait(false);
        await channel.ExchangeUnbindAsync(queue, options.EffectiveRouterExchangeName, routingKey, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<long?> GetReadyCountAsync(string queue, CancellationToken cancellationToken)
    {
        try
        {
            await using var channel = await ChannelAsync(cancellationToken).ConfigureAwait(false);
            var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken).ConfigureAwait(false);
            return ok.MessageCount;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            return 0;
        }
    }

    /// <inheritdoc />
    public async Task DeleteQueueAsync(string queue, ContextualQueueOptions options, CancellationToken cancellationToken)
    {
        await using (var channel = await ChannelAsync(cancellationToken).ConfigureAwait(false))
        {
            // Forward the queue's address to the default queue first: a send between the drain and the deletion then ends in
            // the queue (which the deletion refuses, nothing lost) or, once the queue and its binding are gone, in the default queue.
            await channel.ExchangeDeclareAsync(queue, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            await channel.ExchangeBindAsync(options.DefaultQueueName, queue, "", cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        try
        {
            await using var channel = await ChannelAsync(cancellationToken).ConfigureAwait(false);
            // ifEmpty: a message that got in after all would make the broker refuse, and the queue stays (nothing lost).
            await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (OperationInterruptedException)
        {
            // The queue stays with its binding: take the forwarding back so each message sent to it ends in one queue.
            await using var channel = await ChannelAsync(cancellationToken).ConfigureAwait(false);
            await channel.ExchangeUnbindAsync(options.DefaultQueueName, queue, "", cancellationToken: cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    static void Bind(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options, string routingKey)
    {
        var rabbit = Rabbit(endpoint, options);
        rabbit.ConfigureConsumeTopology = false;
        rabbit.Bind(options.EffectiveRouterExchangeName, x =>
        {
            x.ExchangeType = ExchangeType.Direct;
            x.RoutingKey = routingKey;
            x.SetExchangeArgument("alternate-exchange", options.DefaultQueueName);
        });
    }

    static IRabbitMqReceiveEndpointConfigurator Rabbit(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options) =>
        endpoint as IRabbitMqReceiveEndpointConfigurator ?? throw new ConfigurationException(
            $"Contextual queues of '{options.DefaultQueueName}' use RabbitMQ but the endpoint is a {endpoint.GetType().Name}; use the transport's own UseContextualQueues.");

    async Task<IChannel> ChannelAsync(CancellationToken cancellationToken)
    {
        var connection = _amqp;
        if (connection is not { IsOpen: true })
        {
            await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_amqp is not { IsOpen: true })
                {
                    if (_amqp is not null)
                        await _amqp.DisposeAsync().ConfigureAwait(false);
                    _amqp = await new ConnectionFactory
                    {
                        HostName = _connection.HostName,
                        Port = _connection.Port,
                        VirtualHost = _connection.VirtualHost,
                        UserName = _connection.UserName,
                        Password = _connection.Password,
                        RequestedConnectionTimeout = _connection.ConnectionTimeout,
                        AutomaticRecoveryEnabled = false,
                        ClientProvidedName = "MassTransit.Patterns contextual queues"
                    }.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
                }
                connection = _amqp;
            }
            finally
            {
                _lock.Release();
            }
        }
        return await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_amqp is not null)
            await _amqp.DisposeAsync().ConfigureAwait(false);
        _lock.Dispose();
    }
}
