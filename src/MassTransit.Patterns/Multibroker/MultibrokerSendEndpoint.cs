using MassTransit.Initializers;

namespace MassTransit.Patterns.Multibroker;

/// <summary>An <see cref="ISendEndpoint"/> for one address on every broker: each message goes to one broker.</summary>
sealed class MultibrokerSendEndpoint(MultibrokerBus bus, Uri address) : ISendEndpoint
{
    public ConnectHandle ConnectSendObserver(ISendObserver observer) => bus.ConnectSendObserver(observer);

    public Task Send<T>(T message, CancellationToken cancellationToken = default)
        where T : class => bus.SendAsync(address, message, null, null, cancellationToken);

    public Task Send<T>(T message, IPipe<SendContext<T>> pipe, CancellationToken cancellationToken = default)
        where T : class => bus.SendAsync(address, message, null, pipe, cancellationToken);

    public Task Send<T>(T message, IPipe<SendContext> pipe, CancellationToken cancellationToken = default)
        where T : class => bus.SendAsync(address, message, null, pipe is null ? null : Pipe.Execute<SendContext<T>>(c => pipe.Send(c)), cancellationToken);

    public Task Send(object message, CancellationToken cancellationToken = default) =>
        bus.SendObjectAsync(address, message, message.GetType(), null, cancellationToken);

    public Task Send(object message, Type messageType, CancellationToken cancellationToken = default) =>
        bus.SendObjectAsync(address, message, messageType, null, cancellationToken);

    public Task Send(object message, IPipe<SendContext> pipe, CancellationToken cancellationToken = default) =>
        bus.SendObjectAsync(address, message, message.GetType(), pipe, cancellationToken);

    public Task Send(object message, Type messageType, IPipe<SendContext> pipe, CancellationToken cancellationToken = default) =>
        bus.SendObjectAsync(address, message, messageType, pipe, cancellationToken);

    public async Task Send<T>(object values, CancellationToken cancellationToken = default)
        where T : class =>
        await bus.SendAsync(address, await MultibrokerBus.Initialize<T>(values, cancellationToken).ConfigureAwait(false), null, null, cancellationToken).ConfigureAwait(false);

    public async Task Send<T>(object values, IPipe<SendContext<T>> pipe, CancellationToken cancellationToken = default)
        where T : class =>
        await bus.SendAsync(address, await MultibrokerBus.Initialize<T>(values, cancellationToken).ConfigureAwait(false), null, pipe, cancellationToken).ConfigureAwait(false);

    public async Task Send<T>(object values, IPipe<SendContext> pipe, CancellationToken cancellationToken = default)
        where T : class =>
        await Send(await MultibrokerBus.Initialize<T>(values, cancellationToken).ConfigureAwait(false), pipe, cancellationToken).ConfigureAwait(false);
}
