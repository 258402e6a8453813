using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>What a scenario runs on: the transport, quick or full, and progress output.</summary>
public sealed class BenchContext(string transport, bool quick)
{
    public const string InMemory = "inmemory";
    public const string RabbitMq = "rabbitmq";

    public string Transport { get; } = transport;

    public bool Quick { get; } = quick;

    /// <summary>Where the JSON goes (<c>--out</c>); scenarios that draw a curve write their PNG here too.</summary>
    public string OutputFolder { get; init; } = Path.Combine("artifacts", "bench");

    public void Progress(string message) => Console.Error.WriteLine($"  [{DateTime.Now:HH:mm:ss}] {message}");

    /// <summary>Configures the bus for the chosen transport.</summary>
    public void UseTransport(IBusRegistrationConfigurator x, Action<IBusRegistrationContext, IBusFactoryConfigurator>? configure = null)
    {
        if (Transport == RabbitMq)
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(new Uri($"rabbitmq://{ServiceEnvironment.RabbitHost}:{ServiceEnvironment.RabbitAmqpPort}/"), h =>
                {
                    h.Username(ServiceEnvironment.RabbitUser);
                    h.Password(ServiceEnvironment.RabbitPassword);
                });
                configure?.Invoke(context, cfg);
                cfg.ConfigureEndpoints(context);
            });
        else
            x.UsingInMemory((context, cfg) =>
            {
                configure?.Invoke(context, cfg);
                cfg.ConfigureEndpoints(context);
            });
    }
}
