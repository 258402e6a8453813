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
}

/// <summary>
/// An in-memory broker: a bus of its own on the in-memory transport (each bus is a separate message
/// store, so several of them behave as independent brokers in one process). For tests, samples and the
/// showcase; <see cref="Outage"/> simulates the broker going down.
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

    sealed class OutageFilter<TContext>(InMemoryBrokerOutage outage) : IFilter<TContext>
        where TContext : class, PipeContext
    {
        public Task Send(TContext context, IPipe<TContext> next) =>
            outage.IsDown ? throw new InMemoryBrokerDownException() : next.Send(context);

        public void Probe(ProbeContext context) => context.CreateFilterScope("multibrokerOutage");
    }
}

/// <summary>Takes an in-memory broker down (its sends and publishes fail, its health says disconnected) and up again.</summary>
public sealed class InMemoryBrokerOutage
{
    volatile bool _down;

    /// <summary>True while the simulated outage lasts.</summary>
    public bool IsDown => _down;

    /// <summary>Starts the outage: sends fail at once, the next health check takes the broker out of rotation.</summary>
    public void Down() => _down = true;

    /// <summary>Ends the outage: the next health check puts the broker back.</summary>
    public void Up() => _down = false;
}

/// <summary>Thrown by a send to an in-memory broker during a simulated outage.</summary>
public sealed class InMemoryBrokerDownException() : MassTransitException("The in-memory broker is down (simulated outage).");
