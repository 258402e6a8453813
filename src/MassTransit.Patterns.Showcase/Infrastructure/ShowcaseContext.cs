using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Showcase.Infrastructure;

/// <summary>What a scenario needs to build its bus: the transport chosen and where the embedded database lives.</summary>
public sealed class ShowcaseContext(ShowcaseOptions options, string workFolder)
{
    public ShowcaseOptions Options { get; } = options;

    public bool Quick => Options.Quick;

    /// <summary>A folder for this run's SQLite files.</summary>
    public string WorkFolder { get; } = workFolder;

    public string SqliteConnectionString(string name) => $"Data Source={Path.Combine(WorkFolder, name + ".db")};Pooling=False";

    /// <summary>Configures the bus for the chosen transport; RabbitMQ settings come from the environment build/services.sh prints.</summary>
    public void UseTransport(IBusRegistrationConfigurator x, Action<IBusRegistrationContext, IBusFactoryConfigurator>? configure = null)
    {
        if (Options.Transport == ShowcaseOptions.RabbitMq)
        {
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(new Uri($"rabbitmq://{ServiceEnvironment.RabbitHost}:{ServiceEnvironment.RabbitAmqpPort}/"), h =>
                {
                    h.Username(ServiceEnvironment.RabbitUser);
                    h.Password(ServiceEnvironment.RabbitPassword);
                    if (Options.Cluster)
                        h.UseCluster(c =>
                        {
                            foreach (var port in ServiceEnvironment.RabbitClusterAmqpPorts)
                                c.Node($"{ServiceEnvironment.RabbitHost}:{port}");
                        });
                });
                configure?.Invoke(context, cfg);
                cfg.ConfigureEndpoints(context);
            });
        }
        else
        {
            x.UsingInMemory((context, cfg) =>
            {
                configure?.Invoke(context, cfg);
                cfg.ConfigureEndpoints(context);
            });
        }
    }

    /// <summary>
    /// Contextual queues for <typeparamref name="T"/> on whichever transport <paramref name="cfg"/> is: on RabbitMQ with
    /// the AMQP probe of the showcase's broker, in memory otherwise.
    /// </summary>
    public static void UseContextualQueues<T>(IBusRegistrationContext context, IBusFactoryConfigurator cfg, Action<ContextualQueueConfigurator<T>> configure)
        where T : class
    {
        if (cfg is IRabbitMqBusFactoryConfigurator rabbit)
            rabbit.UseContextualQueues(context, new RabbitMqProbeOptions
            {
                HostName = ServiceEnvironment.RabbitHost,
                Port = ServiceEnvironment.RabbitAmqpPort,
                UserName = ServiceEnvironment.RabbitUser,
                Password = ServiceEnvironment.RabbitPassword
            }, configure);
        else
            ((IInMemoryBusFactoryConfigurator)cfg).UseContextualQueues(context, configure);
    }
}
