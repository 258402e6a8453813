namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Several independent brokers as one: sends and publishes go to exactly one broker, chosen by the
/// strategy among the brokers in rotation, and return once that broker confirmed; a broker that fails
/// before confirming is left for the next one (same message id). Use it as any
/// <see cref="ISendEndpointProvider"/> / <see cref="IPublishEndpoint"/>, with short addresses
/// (<c>queue:name</c>, <c>exchange:name</c>) that each broker's bus resolves on its own host.
/// </summary>
public interface IMultibroker : ISendEndpointProvider, IPublishEndpoint
{
    /// <summary>The brokers, in configuration order, with their state and counts.</summary>
    IReadOnlyList<MultibrokerBroker> Brokers { get; }

    /// <summary>Copies of already consumed messages that this process's consumers acknowledged without running (see <see cref="MultibrokerOptions.Deduplicate"/>).</summary>
    long DuplicatesSuppressed { get; }

    /// <summary>
    /// Takes the broker named <paramref name="broker"/> out of rotation until <see cref="Release"/> (an operator's hold,
    /// e.g. before maintenance of that broker): it becomes <see cref="BrokerState.Held"/>, sends and publishes go to the
    /// other brokers only (never to it, even when they all fail), and no probe or health check puts it back. Its bus keeps
    /// running, so its consumers drain what it holds. Returns false when it was held already.
    /// </summary>
    /// <param name="broker">The broker's name, as configured.</param>
    /// <param name="reason">Why, shown as the broker's last reason and logged.</param>
    /// <exception cref="ArgumentException">No broker has that name.</exception>
    bool Hold(string broker, string reason);

    /// <summary>
    /// Ends a hold (<see cref="Hold"/>): the broker's normal health rules apply again, so it rejoins the rotation at once
    /// when its bus is connected and it is not ejected (otherwise when it recovers). Returns false when it was not held.
    /// </summary>
    /// <param name="broker">The broker's name, as configured.</param>
    /// <exception cref="ArgumentException">No broker has that name.</exception>
    bool Release(string broker);

    /// <summary>The strategy in use.</summary>
    MultibrokerStrategy Strategy { get; }

    /// <summary>
    /// Sends <paramref name="message"/> to <paramref name="destinationAddress"/> on one broker, with an
    /// explicit key (null: the registered key selector, if any); returns the broker that confirmed it.
    /// </summary>
    Task<MultibrokerBroker> SendAsync<T>(Uri destinationAddress, T message, string? key = null, IPipe<SendContext<T>>? pipe = null,
        CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>Publishes <paramref name="message"/> on one broker (every subscriber there gets it once); returns the broker that confirmed it.</summary>
    Task<MultibrokerBroker> PublishAsync<T>(T message, string? key = null, IPipe<PublishContext<T>>? pipe = null,
        CancellationToken cancellationToken = default)
        where T : class;

    /// <summary>
    /// Sends a request through one broker (chosen as for a send) and waits for the response, which comes
    /// back through the same broker. A request is not retried on another broker once sent: it may have
    /// been handled (a timeout throws <see cref="RequestTimeoutException"/>, and the caller decides).
    /// </summary>
    Task<Response<TResponse>> GetResponse<TRequest, TResponse>(Uri destinationAddress, TRequest request, string? key = null,
        RequestTimeout timeout = default, CancellationToken cancellationToken = default)
        where TRequest : class
        where TResponse : class;
}
