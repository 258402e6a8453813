using MassTransit.Initializers;

namespace MassTransit.Patterns.Multibroker;

/// <summary>The <see cref="IMultibroker"/> facade over the runtime's brokers.</summary>
sealed class MultibrokerBus(MultibrokerRuntime runtime) : IMultibroker
{
    /// <summary>Header set on a message sent again on another broker after a failed attempt, or as a hedge of a slow one: the attempt number (1, 2...).</summary>
    public const string FailoverHeader = "MT-Multibroker-Failover";

    public IReadOnlyList<MultibrokerBroker> Brokers => runtime.Brokers;

    public MultibrokerStrategy Strategy => runtime.Options.Strategy;

    public long DuplicatesSuppressed => runtime.Deduplicator.DuplicatesSuppressed;

    internal MultibrokerRuntime Runtime => runtime;

    public bool Hold(string broker, string reason) => runtime.Hold(broker, reason);

    public bool Release(string broker) => runtime.Release(broker);

    public Task<ISendEndpoint> GetSendEndpoint(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return Task.FromResult<ISendEndpoint>(new MultibrokerSendEndpoint(this, address));
    }

    public ConnectHandle ConnectSendObserver(ISendObserver observer) => runtime.ConnectObserver(bus => bus.ConnectSendObserver(observer));

    public ConnectHandle ConnectPublishObserver(IPublishObserver observer) => runtime.ConnectObserver(bus => bus.ConnectPublishObserver(observer));

    public Task<MultibrokerBroker> SendAsync<T>(Uri destinationAddress, T message, string? key = null, IPipe<SendContext<T>>? pipe = null,
        CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(destinationAddress);
        ArgumentNullException.ThrowIfNull(message);
        var state = new AttemptState();
        return runtime.DeliverAsync(key ?? runtime.KeyOf(typeof(T), message), async (bus, attempt, token) =>
        {
            var endpoint = await bus.GetSendEndpoint(destinationAddress).ConfigureAwait(false);
            await endpoint.Send(message, new SendAttemptPipe<T>(state, attempt, pipe is null ? null : pipe.Send), token).ConfigureAwait(false);
        }, () => state.MessageId, cancellationToken);
    }

    internal Task<MultibrokerBroker> SendObjectAsync(Uri destinationAddress, object message, Type messageType, IPipe<SendContext>? pipe,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var state = new AttemptState();
        return runtime.DeliverAsync(runtime.KeyOf(messageType, message), async (bus, attempt, token) =>
        {
            var endpoint = await bus.GetSendEndpoint(destinationAddress).ConfigureAwait(false);
            await endpoint.Send(message, messageType, new ObjectAttemptPipe<SendContext>(state, attempt, pipe), token).ConfigureAwait(false);
        }, () => state.MessageId, cancellationToken);
    }

    public Task<MultibrokerBroker> PublishAsync<T>(T message, string? key = null, IPipe<PublishContext<T>>? pipe = null,
        CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        var state = new AttemptState();
        return runtime.DeliverAsync(key ?? runtime.KeyOf(typeof(T), message), (bus, attempt, token) =>
            bus.Publish(message, new PublishAttemptPipe<T>(state, attempt, pipe is null ? null : pipe.Send), token), () => state.MessageId, cancellationToken);
    }

    Task<MultibrokerBroker> PublishObjectAsync(object message, Type messageType, IPipe<PublishContext>? pipe, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var state = new AttemptState();
        return runtime.DeliverAsync(runtime.KeyOf(messageType, message), (bus, attempt, token) =>
            bus.Publish(message, messageType, new ObjectAttemptPipe<PublishContext>(state, attempt, pipe), token), () => state.MessageId, cancellationToken);
    }

    public async Task<Response<TResponse>> GetResponse<TRequest, TResponse>(Uri destinationAddress, TRequest request, string? key = null,
        RequestTimeout timeout = default, CancellationToken cancellationToken = default)
        where TRequest : class
        where TResponse : class
    {
        ArgumentNullException.ThrowIfNull(request);
        // The broker is picked as for a send; the request client of that broker's bus waits on its own response queue there.
        Response<TResponse>? response = null;
        await runtime.DeliverAsync(key ?? runtime.KeyOf(typeof(TRequest), request), async (bus, _, _) =>
        {
            var client = bus.CreateRequestClient<TRequest>(destinationAddress, timeout);
            response = await client.GetResponse<TResponse>(request, cancellationToken).ConfigureAwait(false);
        }, () => null, cancellationToken, retry: false).ConfigureAwait(false);
        return response!;
    }

    // IPublishEndpoint

    public Task Publish<T>(T message, CancellationToken cancellationToken = default)
        where T : class => PublishAsync(message, null, null, cancellationToken);

    public Task Publish<T>(T message, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default)
        where T : class => PublishAsync(message, null, publishPipe, cancellationToken);

    public Task Publish<T>(T message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default)
        where T : class => PublishAsync(message, null, publishPipe is null ? null : Pipe.Execute<PublishContext<T>>(c => publishPipe.Send(c)), cancellationToken);

    public Task Publish(object message, CancellationToken cancellationToken = default) =>
        PublishObjectAsync(message, message.GetType(), null, cancellationToken);

    public Task Publish(object message, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) =>
        PublishObjectAsync(message, message.GetType(), publishPipe, cancellationToken);

    public Task Publish(object message, Type messageType, CancellationToken cancellationToken = default) =>
        PublishObjectAsync(message, messageType, null, cancellationToken);

    public Task Publish(object message, Type messageType, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default) =>
        PublishObjectAsync(message, messageType, publishPipe, cancellationToken);

    public async Task Publish<T>(object values, CancellationToken cancellationToken = default)
        where T : class
    {
        var message = await Initialize<T>(values, cancellationToken).ConfigureAwait(false);
        await PublishAsync(message, null, null, cancellationToken).ConfigureAwait(false);
    }

    public async Task Publish<T>(object values, IPipe<PublishContext<T>> publishPipe, CancellationToken cancellationToken = default)
        where T : class
    {
        var message = await Initialize<T>(values, cancellationToken).ConfigureAwait(false);
        await PublishAsync(message, null, publishPipe, cancellationToken).ConfigureAwait(false);
    }

    public async Task Publish<T>(object values, IPipe<PublishContext> publishPipe, CancellationToken cancellationToken = default)
        where T : class
    {
        var message = await Initialize<T>(values, cancellationToken).ConfigureAwait(false);
        await Publish(message, publishPipe, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Builds the message from values once, so that its key and its content are the same on every attempt.</summary>
    internal static async Task<T> Initialize<T>(object values, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values is T message)
            return message;
        var tuple = await MessageInitializerCache<T>.InitializeMessage(values, cancellationToken).ConfigureAwait(false);
        return tuple.Message;
    }

    /// <summary>
    /// The message id of one message across its attempts: set by the first, kept by the next (also when
    /// the caller's pipe set it). Hedged attempts run at the same time, so it is read and written under a lock.
    /// </summary>
    internal sealed class AttemptState
    {
        readonly Lock _lock = new();
        Guid? _messageId;

        public Guid? MessageId
        {
            get
            {
                lock (_lock)
                    return _messageId;
            }
        }

        public void Apply(SendContext context, int attempt)
        {
            lock (_lock)
            {
                _messageId ??= NewId.NextGuid();
                context.MessageId = _messageId;
            }
            if (attempt > 0)
                context.Headers.Set(FailoverHeader, attempt);
        }

        public void Keep(SendContext context)
        {
            if (context.MessageId is not { } id)
                return;
            lock (_lock)
                _messageId = id;
        }
    }

    sealed class SendAttemptPipe<T>(AttemptState state, int attempt, Func<SendContext<T>, Task>? user) : IPipe<SendContext<T>>
        where T : class
    {
        public async Task Send(SendContext<T> context)
        {
            state.Apply(context, attempt);
            if (user is not null)
            {
                await user(context).ConfigureAwait(false);
                state.Keep(context);
            }
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("multibroker");
    }

    sealed class PublishAttemptPipe<T>(AttemptState state, int attempt, Func<PublishContext<T>, Task>? user) : IPipe<PublishContext<T>>
        where T : class
    {
        public async Task Send(PublishContext<T> context)
        {
            state.Apply(context, attempt);
            if (user is not null)
            {
                await user(context).ConfigureAwait(false);
                state.Keep(context);
            }
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("multibroker");
    }

    sealed class ObjectAttemptPipe<TContext>(AttemptState state, int attempt, IPipe<TContext>? user) : IPipe<TContext>
        where TContext : class, SendContext
    {
        public async Task Send(TContext context)
        {
            state.Apply(context, attempt);
            if (user is not null)
            {
                await user.Send(context).ConfigureAwait(false);
                state.Keep(context);
            }
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("multibroker");
    }
}
