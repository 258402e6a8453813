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

/// <summary>
/// An in-memory broker: a bus of its own on the in-memory transport (each bus is a separate message
/// store, so several of them behave as independent brokers in one process). For tests, samples and the
/// showcase; <see cref="Outage"/> simulates the broker going down, or hanging.
/// </summary>
public sealed class InMemoryMultibrokerTransport : MultibrokerTransport
{
    /// <summary>The switch that takes this in-memory broker down and up again.</summary>
    public InMemoryBrokerOutage Outage { get; } = new();

    /// <inheritdoc />
    public override IBusControl CreateBus(string brokerName, IBusRegistrationContext context, Action<IBusRegistrationContext, IBusFactoryConfigurator> configure) =>
        Bus.Factory.CreateUsingInMemory(new Uri($"loopback://{Uri.EscapeDataString(brokerName)}/"), cfg =>
        {
            cfg.ConfigureSend(s => s.UseFilter(new OutageFilter<SendContext>(Outage)));
            cfg.ConfigurePublish(p => p.UseFilter(new OutageFilter<PublishContext>(Outage)));
            configure(context, cfg);
            cfg.ConfigureEndpoints(context);
        });

    /// <inheritdoc />
    public override bool IsConnected(IBusControl bus, out string? reason)
    {
        if (Outage.IsDown)
        {
            reason = "simulated outage";
            return false;
        }
        return base.IsConnected(bus, out reason);
    }

    /// <inheritdoc />
    /// <remarks>Fails during a simulated outage; waits while the broker hangs (until it is up again or the probe's time is over).</remarks>
    public override async Task ProbeAsync(IBusControl bus, CancellationToken cancellationToken)
    {
        if (Outage.IsDown)
            throw new InMemoryBrokerDownException();
        await Outage.WaitWhileHungAsync(cancellationToken).ConfigureAwait(false);
        await base.ProbeAsync(bus, cancellationToken).ConfigureAwait(false);
    }

    sealed class OutageFilter<TContext>(InMemoryBrokerOutage outage) : IFilter<TContext>
        where TContext : class, PipeContext
    {
        public async Task Send(TContext context, IPipe<TContext> next)
        {
            if (outage.IsDown)
                throw new InMemoryBrokerDownException();
            await outage.WaitWhileHungAsync(context.CancellationToken).ConfigureAwait(false);
            await next.Send(context).ConfigureAwait(false);
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("multibrokerOutage");
    }
}

/// <summary>
/// Takes an in-memory broker down (its sends and publishes fail, its health says disconnected), makes
/// it hang (its sends, publishes and probes wait without an answer while its health still says
/// connected, as a frozen broker's open connection does), and up again.
/// </summary>
public sealed class InMemoryBrokerOutage
{
    readonly Lock _lock = new();
    volatile bool _down;
    TaskCompletionSource? _hung;

    /// <summary>True while the simulated outage lasts.</summary>
    public bool IsDown => _down;

    /// <summary>True while the simulated hang lasts.</summary>
    public bool IsHung
    {
        get
        {
            lock (_lock)
                return _hung is not null;
        }
    }

    /// <summary>Starts the outage: sends fail at once, the next health check takes the broker out of rotation.</summary>
    public void Down() => _down = true;

    /// <summary>
    /// Starts a hang: sends, publishes and probes wait (until <see cref="Up"/>, or their own cancellation:
    /// a client's timeout still ends them) and the bus still reports itself connected.
    /// </summary>
    public void Hang()
    {
        lock (_lock)
            _hung ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Ends the outage or the hang: waiting sends go on, the next health check or probe puts the broker back.</summary>
    public void Up()
    {
        _down = false;
        TaskCompletionSource? hung;
        lock (_lock)
        {
            hung = _hung;
            _hung = null;
        }
        hung?.TrySetResult();
    }

    internal Task WaitWhileHungAsync(CancellationToken cancellationToken)
    {
        Task? hung;
        lock (_lock)
            hung = _hung?.Task;
        return hung is null ? Task.CompletedTask : hung.WaitAsync(cancellationToken);
    }
}

/// <summary>Thrown by a send to an in-memory broker during a simulated outage.</summary>
public sealed class InMemoryBrokerDownException() : MassTransitException("The in-memory broker is down (simulated outage).");
