using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Contextual;

/// <summary><c>cfg.UseContextualQueues&lt;TMessage&gt;(context, x => x.Context(m => m.CustomerId) ...)</c>: a queue per context, created on demand.</summary>
public static class ContextualQueueConfigurationExtensions
{
    /// <summary>
    /// Adds contextual queues for <typeparamref name="TMessage"/> on the in-memory transport (and under the test harness).
    /// Producers send to the returned <see cref="ContextualRouting.RouterAddress"/>.
    /// </summary>
    /// <example>
    /// <code>
    /// var orders = cfg.UseContextualQueues&lt;PlaceOrder&gt;(context, x => x
    ///     .DefaultQueue("orders")
    ///     .Context(m => m.CustomerId)
    ///     .Endpoint(e => e.ConfigureConsumer&lt;PlaceOrderConsumer&gt;(context)));
    /// </code>
    /// </example>
    public static ContextualRouting UseContextualQueues<TMessage>(this IInMemoryBusFactoryConfigurator configurator, IRegistrationContext? context,
        Action<ContextualQueueConfigurator<TMessage>> configure)
        where TMessage : class =>
        Apply(configurator, context, configure, InMemoryContextualQueueTransport.Instance);

    /// <summary>
    /// The implementation shared by the transports' overloads: <paramref name="transport"/> is the default topology,
    /// which <see cref="ContextualQueueConfigurator{TMessage}.Transport"/> may replace.
    /// </summary>
    public static ContextualRouting Apply<TMessage>(IBusFactoryConfigurator configurator, IRegistrationContext? context,
        Action<ContextualQueueConfigurator<TMessage>> configure, IContextualQueueTransport? transport)
        where TMessage : class
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(configure);

        var contextual = new ContextualQueueConfigurator<TMessage> { Transport = transport };
        configure(contextual);
        var options = contextual.Options;

        var failures = options.CreateValidator($"ContextualQueueOptions<{typeof(TMessage).Name}>").Failures.ToList();
        if (contextual.Selector is null)
            failures.Add(new OptionFailure($"ContextualQueueConfigurator<{typeof(TMessage).Name}>.Context", "must be set: the selector of each message's context."));
        if (contextual.Transport is null)
            failures.Add(new OptionFailure($"ContextualQueueConfigurator<{typeof(TMessage).Name}>.Transport",
                "must be set for this transport: use the transport's UseContextualQueues (in-memory, or RabbitMQ from MassTransit.Patterns.RabbitMQ)."));
        configurator.AddPipeSpecification(new ContextualValidation(failures));

        var selector = contextual.Selector;
        var routing = new ContextualRouting(typeof(TMessage), m => selector is null ? null : selector((TMessage)m),
            c => c.TryGetMessage<TMessage>(out var m) ? m.Message : null, options, contextual.Transport ?? InMemoryContextualQueueTransport.Instance,
            contextual.ConfigureEndpoint);
        if (failures.Count > 0 || contextual.Transport is null)
            return routing;

        configurator.ConfigureSend(s => s.ConnectSendPipeSpecificationObserver(new ContextualSendSpecificationObserver<TMessage>(routing)));
        configurator.ConnectSendObserver(new ContextualSendObserver());
        configurator.ReceiveEndpoint(options.DefaultQueueName, routing.ConfigureDefaultEndpoint);

        var logger = (context?.GetService(typeof(ILoggerFactory)) as ILoggerFactory)?.CreateLogger("MassTransit.Patterns.Contextual")
            ?? NullLogger.Instance;
        configurator.ConnectBusObserver(new ContextualBusObserver(routing, logger));
        return routing;
    }
}

/// <summary>Reports the options' failures when the bus is built.</summary>
sealed class ContextualValidation(IReadOnlyList<OptionFailure> failures) : IPipeSpecification<ConsumeContext>
{
    public void Apply(IPipeBuilder<ConsumeContext> builder)
    {
    }

    public IEnumerable<ValidationResult> Validate() => failures.Select(f => (ValidationResult)new OptionValidationResult(f.Option, f.Message));
}

/// <summary>Starts the registry (static contexts, idle retirement) when the bus has started; stops it with the bus.</summary>
sealed class ContextualBusObserver(ContextualRouting routing, ILogger logger) : IBusObserver
{
    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus) => Task.CompletedTask;

    public Task PostStart(IBus bus, Task<BusReady> busReady) => routing.StartAsync(bus, logger);

    public Task StartFaulted(IBus bus, Exception exception) => routing.StopAsync();

    public Task PreStop(IBus bus) => routing.StopAsync();

    public Task PostStop(IBus bus)
    {
        ContextualMetrics.Untrack(routing);
        return Task.CompletedTask;
    }

    public Task StopFaulted(IBus bus, Exception exception) => routing.StopAsync();
}
