using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Multibroker;

/// <summary>Configures the multibroker: the brokers, the consumers they all host, the strategy and the failover policy.</summary>
public interface IMultibrokerConfigurator
{
    /// <summary>The options (strategy, send timeout, ejection, health check...), to set directly.</summary>
    MultibrokerOptions Options { get; }

    /// <summary>Adds a broker: its unique name, the transport that builds its bus, its weight (Weighted and KeyHash strategies).</summary>
    IMultibrokerConfigurator Broker(string name, MultibrokerTransport transport, int weight = 1);

    /// <summary>Sets the strategy that picks a broker for each message.</summary>
    IMultibrokerConfigurator Strategy(MultibrokerStrategy strategy);

    /// <summary>
    /// The key of messages of type <typeparamref name="T"/> (or deriving from it) for
    /// <see cref="MultibrokerStrategy.KeyHash"/>: messages with one key go to one broker, in order,
    /// while it is healthy. A null key falls back to round-robin.
    /// </summary>
    IMultibrokerConfigurator Key<T>(Func<T, string?> key)
        where T : class;

    /// <summary>
    /// Registers consumers, sagas, definitions and endpoint callbacks once, as with <c>AddMassTransit</c>:
    /// every broker's bus configures the same receive endpoints from them (<c>ConfigureEndpoints</c>).
    /// A saga's repository is shared by every broker's bus: in one process an in-memory repository is;
    /// across processes use a database (events of one saga can arrive through different brokers).
    /// </summary>
    IMultibrokerConfigurator Register(Action<IBusRegistrationConfigurator> register);

    /// <summary>Configures each broker's bus (called once per broker with its name), before its endpoints are configured.</summary>
    IMultibrokerConfigurator ConfigureBus(Action<IBusRegistrationContext, string, IBusFactoryConfigurator> configure);

    /// <summary>Changes the options.</summary>
    IMultibrokerConfigurator Configure(Action<MultibrokerOptions> configure);
}
