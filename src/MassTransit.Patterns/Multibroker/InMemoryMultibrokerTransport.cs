namespace MassTransit.Patterns.Multibroker;

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
