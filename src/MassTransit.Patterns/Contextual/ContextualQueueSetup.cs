using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Contextual;

/// <summary>The implementation shared by the transports' <c>UseContextualQueues</c>.</summary>
static class ContextualQueueSetup
{
    /// <summary>
    /// Configures the container's <see cref="ContextualRouting{TMessage}"/> and the bus: <paramref name="transport"/> is the
    /// default topology, which <see cref="ContextualQueueConfigurator{TMessage}.Transport"/> may replace. Failures
    /// (options, no <c>AddContextualQueues</c>, a second call for the type) are reported when the bus is built.
    /// </summary>
    internal static void Apply<TMessage>(IBusFactoryConfigurator configurator, IRegistrationContext context,
        Action<ContextualQueueConfigurator<TMessage>> configure, IContextualQueueTransport? transport)
        where TMessage : class
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(configure);

        var contextual = new ContextualQueueConfigurator<TMessage> { Transport = transport };
        configure(contextual);
        var options = contextual.Options;

        var name = typeof(TMessage).Name;
        var failures = options.CreateValidator($"ContextualQueueOptions<{name}>").Failures.ToList();
        if (contextual.Selector is null)
            failures.Add(new OptionFailure($"ContextualQueueConfigurator<{name}>.Context", "must be set: the selector of each message's context."));
        if (contextual.Transport is null)
            failures.Add(new OptionFailure($"ContextualQueueConfigurator<{name}>.Transport",
                "must be set for this transport: use the transport's UseContextualQueues (in-memory, or RabbitMQ from MassTransit.Patterns.RabbitMQ)."));

        var routing = context.GetService<ContextualRouting<TMessage>>();
        if (routing is null)
            failures.Add(new OptionFailure($"ContextualRouting<{name}>",
                $"is not registered: call services.AddContextualQueues<{name}>() (or x.AddContextualQueues<{name}>() in AddMassTransit) before UseContextualQueues<{name}>."));
        configurator.AddPipeSpecification(new ContextualValidation(failures));
        if (failures.Count > 0 || routing is null || contextual.Transport is null)
            return;

        var selector = contextual.Selector!;
        if (!routing.TryConfigure(m => selector((TMessage)m), c => c.TryGetMessage<TMessage>(out var m) ? m.Message : null, options,
                contextual.Transport, contextual.ConfigureEndpoint))
        {
            configurator.AddPipeSpecification(new ContextualValidation([new OptionFailure($"UseContextualQueues<{name}>",
                $"was called twice in one container: the container's ContextualRouting<{name}> routes one set of contextual queues.")]));
            return;
        }

        configurator.ConfigureSend(s => s.ConnectSendPipeSpecificationObserver(new ContextualSendSpecificationObserver<TMessage>(routing)));
        configurator.ConnectSendObserver(new ContextualSendObserver());
        configurator.ReceiveEndpoint(options.DefaultQueueName, routing.ConfigureDefaultEndpoint);

        var logger = context.GetService<ILoggerFactory>()?.CreateLogger("MassTransit.Patterns.Contextual") ?? NullLogger.Instance;
        configurator.ConnectBusObserver(new ContextualBusObserver(routing, logger));
    }
}
