using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>The <see cref="IEventForwarder"/> over the application's bus.</summary>
sealed class EventForwarder : IEventForwarder
{
    readonly IBus _bus;
    readonly EventForwardingSendPolicy _policy;

    public EventForwarder(IBus bus, IOptions<EventForwardingOptions> options, EventForwardingMetrics metrics)
    {
        _bus = bus;
        _policy = new EventForwardingSendPolicy(options.Value, "producer", metrics);
    }

    public Task<Guid> Send<T>(Uri destinationAddress, T message, CancellationToken cancellationToken = default)
        where T : class =>
        Send(destinationAddress, message, NewId.NextGuid(), null, cancellationToken);

    public async Task<Guid> Send<T>(Uri destinationAddress, T message, Guid messageId, Action<SendContext<T>>? configure = null,
        CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(destinationAddress);
        ArgumentNullException.ThrowIfNull(message);
        var pipe = Pipe.Execute<SendContext<T>>(context =>
        {
            configure?.Invoke(context);
            context.MessageId = messageId;
        });
        await _policy.SendAsync(messageId, async token =>
        {
            var endpoint = await _bus.GetSendEndpoint(destinationAddress).ConfigureAwait(false);
            await endpoint.Send(message, pipe, token).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return messageId;
    }

    public Task<Guid> Publish<T>(T message, CancellationToken cancellationToken = default)
        where T : class =>
        Publish(message, NewId.NextGuid(), null, cancellationToken);

    public async Task<Guid> Publish<T>(T message, Guid messageId, Action<PublishContext<T>>? configure = null, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        var pipe = Pipe.Execute<PublishContext<T>>(context =>
        {
            configure?.Invoke(context);
            context.MessageId = messageId;
        });
        await _policy.SendAsync(messageId, token => _bus.Publish(message, pipe, token), cancellationToken).ConfigureAwait(false);
        return messageId;
    }
}
