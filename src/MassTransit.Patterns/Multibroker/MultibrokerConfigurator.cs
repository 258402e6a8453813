using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Multibroker;

sealed class MultibrokerConfigurator : IMultibrokerConfigurator
{
    public MultibrokerOptions Options { get; } = new();

    public List<(string Name, MultibrokerTransport Transport, int Weight)> Brokers { get; } = [];

    public Dictionary<Type, Func<object, string?>> Keys { get; } = [];

    public List<Action<IBusRegistrationConfigurator>> Registrations { get; } = [];

    public List<Action<IBusRegistrationContext, string, IBusFactoryConfigurator>> BusCallbacks { get; } = [];

    public IMultibrokerConfigurator Broker(string name, MultibrokerTransport transport, int weight = 1)
    {
        Brokers.Add((name, transport, weight));
        return this;
    }

    public IMultibrokerConfigurator Strategy(MultibrokerStrategy strategy)
    {
        Options.Strategy = strategy;
        return this;
    }

    public IMultibrokerConfigurator Key<T>(Func<T, string?> key)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        Keys[typeof(T)] = m => key((T)m);
        return this;
    }

    public IMultibrokerConfigurator Register(Action<IBusRegistrationConfigurator> register)
    {
        ArgumentNullException.ThrowIfNull(register);
        Registrations.Add(register);
        return this;
    }

    public IMultibrokerConfigurator ConfigureBus(Action<IBusRegistrationContext, string, IBusFactoryConfigurator> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        BusCallbacks.Add(configure);
        return this;
    }

    public IMultibrokerConfigurator Configure(Action<MultibrokerOptions> configure)
    {
        configure(Options);
        return this;
    }

    /// <summary>The options' own checks plus the broker list's, under one name.</summary>
    public OptionsValidator Validate()
    {
        var validator = Options.CreateValidator();
        validator.Require(Brokers.Count > 0, "Brokers", "must hold at least one broker (x.Broker(name, transport)).");
        foreach (var group in Brokers.GroupBy(b => b.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
            validator.Require(false, "Brokers", $"names must be unique ('{group.Key}' appears {group.Count()} times).");
        foreach (var (name, transport, weight) in Brokers)
        {
            validator.Require(!string.IsNullOrWhiteSpace(name), "Brokers", "a broker's name must not be empty.");
            validator.Require(transport is not null, $"Brokers[{name}].Transport", "must be set.");
            validator.Require(weight > 0, $"Brokers[{name}].Weight", $"must be greater than zero (was {weight}).");
        }
        validator.Require(Options.MinimumBrokersAtStart <= Brokers.Count, nameof(MultibrokerOptions.MinimumBrokersAtStart),
            $"must not exceed the number of brokers ({Brokers.Count}) (was {Options.MinimumBrokersAtStart}).");
        validator.Require(Options.MaxSendAttempts <= Brokers.Count, nameof(MultibrokerOptions.MaxSendAttempts),
            $"must not exceed the number of brokers ({Brokers.Count}) (was {Options.MaxSendAttempts}).");
        return validator;
    }
}
