namespace MassTransit.Patterns.Contextual;

/// <summary>
/// What the contextual queue pattern needs from a transport: a routing exchange keyed by context, the default
/// queue as its fallback, per-context bindings made and removed at run time, and a few queue operations for
/// retirement. One implementation per transport: in-memory here, RabbitMQ in MassTransit.Patterns.RabbitMQ.
/// </summary>
public interface IContextualQueueTransport
{
    /// <summary>A short name for logs: <c>in-memory</c>, <c>rabbitmq</c>.</summary>
    string Name { get; }

    /// <summary>
    /// True when the broker itself delivers a message whose routing key has no binding to the default queue
    /// (RabbitMQ's alternate exchange): producers then route by the context key alone, from any process.
    /// False when producers must ask the in-process registry which keys are bound (in-memory).
    /// </summary>
    bool BrokerFallback { get; }

    /// <summary>The address producers send to (the routing exchange, declared as the default endpoint declares it).</summary>
    Uri GetRouterAddress(ContextualQueueOptions options);

    /// <summary>Declares the routing exchange (with its fallback) from the default queue's endpoint and binds the default queue to it.</summary>
    void ConfigureDefaultEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options);

    /// <summary>Binds a context (or bucket) queue's endpoint to the routing exchange with <paramref name="routingKey"/>, declared before it consumes.</summary>
    void ConfigureContextEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options, string routingKey);

    /// <summary>Adds a binding of <paramref name="routingKey"/> to an existing queue (a context joining a bucket).</summary>
    Task BindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken);

    /// <summary>Removes the binding of <paramref name="routingKey"/> to <paramref name="queue"/>: later messages for it fall back to the default queue.</summary>
    Task UnbindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken);

    /// <summary>The number of ready messages in a queue, or null when the transport cannot tell (the registry's counters are used instead).</summary>
    Task<long?> GetReadyCountAsync(string queue, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes a drained context queue (only if empty, where the transport can tell). Anything sent to the retired
    /// queue's own address afterwards (a workflow resubmission, a redelivery, a stale producer) must still arrive:
    /// the transport forwards that address to the default queue (see <see cref="ActivateAsync"/> for the way back).
    /// </summary>
    Task DeleteQueueAsync(string queue, ContextualQueueOptions options, CancellationToken cancellationToken);

    /// <summary>
    /// Called once a context (or bucket) queue's endpoint is ready: removes the forwarding of its address to the
    /// default queue left by an earlier retirement, then routes <paramref name="routingKey"/> to it, so each message
    /// reaches exactly one queue. Transports that bind in <see cref="ConfigureContextEndpoint"/> do nothing here.
    /// </summary>
    Task ActivateAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken) => Task.CompletedTask;
}
