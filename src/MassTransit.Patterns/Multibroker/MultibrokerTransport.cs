namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Builds the bus of one broker. Implementations set the host, call <c>configure</c> (the pattern's and
/// the user's bus configuration) and then <c>cfg.ConfigureEndpoints(context)</c>, so that every
/// broker's bus gets the same receive endpoints, consumers and sagas.
/// </summary>
public abstract class MultibrokerTransport
{
    /// <summary>Creates (does not start) the bus of broker <paramref name="brokerName"/>.</summary>
    public abstract IBusControl CreateBus(string brokerName, IBusRegistrationContext context, Action<IBusRegistrationContext, IBusFactoryConfigurator> configure);

    /// <summary>
    /// Whether the broker is reachable, from its bus's health: by default while the bus reports
    /// <see cref="BusHealthStatus.Healthy"/>, i.e. every receive endpoint is consuming. On RabbitMQ a
    /// lost connection shows as <see cref="BusHealthStatus.Degraded"/> (endpoints reconnecting) within
    /// moments, so a degraded bus is out of rotation too.
    /// </summary>
    public virtual bool IsConnected(IBusControl bus, out string? reason)
    {
        var health = bus.CheckHealth();
        reason = health.Status == BusHealthStatus.Healthy ? null : $"{health.Status}: {health.Description}";
        return health.Status == BusHealthStatus.Healthy;
    }

    /// <summary>
    /// A real round trip to the broker, within <paramref name="cancellationToken"/> (cancelled after
    /// <see cref="MultibrokerOptions.ProbeTimeout"/>; the runtime stops waiting then in any case):
    /// completes once the broker answered, throws otherwise. Made before an ejected broker rejoins the
    /// rotation, and every <see cref="MultibrokerOptions.ProbeInterval"/> while it is in it. Transports
    /// override it (RabbitMQ: a passive declare on a connection of the probe's own); this default has no
    /// round trip and only reads <see cref="IsConnected"/>.
    /// </summary>
    public virtual Task ProbeAsync(IBusControl bus, CancellationToken cancellationToken) =>
        IsConnected(bus, out var reason) ? Task.CompletedTask : Task.FromException(new InvalidOperationException($"the bus is not connected: {reason}"));

    /// <summary>Closes whatever <see cref="ProbeAsync"/> keeps open (called when the multibroker stops; a later probe opens it again).</summary>
    public virtual ValueTask CloseProbeAsync() => ValueTask.CompletedTask;
}
