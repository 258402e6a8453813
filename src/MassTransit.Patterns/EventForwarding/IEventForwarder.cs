namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// Sends and publishes that return only once the broker has confirmed the message: each attempt
/// waits at most <see cref="EventForwardingOptions.SendTimeout"/>, an unconfirmed attempt is
/// repeated up to <see cref="EventForwardingOptions.ResendLimit"/> times with the same message id,
/// and when none is confirmed the call throws <see cref="MessageNotConfirmedException"/> (the
/// message may have arrived: send it again with the same id later). Registered by
/// <c>AddEventForwarding</c>. Inside a consumer with the transactional outbox, use the consume
/// context instead: its sends are stored with the consumer's writes and forwarded after commit.
/// </summary>
public interface IEventForwarder
{
    /// <summary>Sends <paramref name="message"/> to <paramref name="destinationAddress"/> with a new message id, returned once confirmed.</summary>
    Task<Guid> Send<T>(Uri destinationAddress, T message, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>
    /// Sends <paramref name="message"/> with the given <paramref name="messageId"/> (use the id of an
    /// earlier unconfirmed attempt to resend it safely); <paramref name="configure"/> sets headers and
    /// other properties of each attempt's send context.
    /// </summary>
    Task<Guid> Send<T>(Uri destinationAddress, T message, Guid messageId, Action<SendContext<T>>? configure = null, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>Publishes <paramref name="message"/> with a new message id, returned once confirmed.</summary>
    Task<Guid> Publish<T>(T message, CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>Publishes <paramref name="message"/> with the given <paramref name="messageId"/>.</summary>
    Task<Guid> Publish<T>(T message, Guid messageId, Action<PublishContext<T>>? configure = null, CancellationToken cancellationToken = default)
        where T : class;
}
