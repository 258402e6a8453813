namespace MassTransit.Patterns.Contextual;

/// <summary>Configures the contextual queues of one message type: the context selector, the queues' knobs and their consumers.</summary>
/// <typeparam name="TMessage">The routed message type.</typeparam>
public sealed class ContextualQueueConfigurator<TMessage>
    where TMessage : class
{
    /// <summary>The options (queue names, concurrency, cap, buckets, idle timeout, invalid keys).</summary>
    public ContextualQueueOptions Options { get; } = new();

    /// <summary>The transport topology; set by the transport's <c>UseContextualQueues</c>.</summary>
    public IContextualQueueTransport? Transport { get; set; }

    internal Func<TMessage, string?>? Selector { get; private set; }

    internal Action<IReceiveEndpointConfigurator>? ConfigureEndpoint { get; private set; }

    /// <summary>The context of a message (a customer, a tenant...). Null or blank goes to the default queue; the selector may throw (the message then goes to the default queue).</summary>
    public ContextualQueueConfigurator<TMessage> Context(Func<TMessage, string?> selector)
    {
        Selector = selector ?? throw new ArgumentNullException(nameof(selector));
        return this;
    }

    /// <summary>The default queue (and the stem of the context queues' names).</summary>
    public ContextualQueueConfigurator<TMessage> DefaultQueue(string queueName)
    {
        Options.DefaultQueueName = queueName;
        return this;
    }

    /// <summary>Contexts whose queues are created when the bus starts and never retired.</summary>
    public ContextualQueueConfigurator<TMessage> Static(params string[] contexts)
    {
        foreach (var context in contexts)
            Options.StaticContexts.Add(context);
        return this;
    }

    /// <summary>
    /// Configures each endpoint of the pattern (default, context and bucket queues) with the consumers of the
    /// routed messages, e.g. <c>e => e.ConfigureConsumer&lt;OrderConsumer&gt;(context)</c>. Called for every queue created at run time too.
    /// </summary>
    public ContextualQueueConfigurator<TMessage> Endpoint(Action<IReceiveEndpointConfigurator> configure)
    {
        ConfigureEndpoint += configure ?? throw new ArgumentNullException(nameof(configure));
        return this;
    }
}
