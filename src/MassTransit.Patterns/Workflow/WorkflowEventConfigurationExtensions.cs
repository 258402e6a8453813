using MassTransit.Configuration;
using MassTransit.Middleware;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit;

/// <summary>Configures the workflow event: the endpoint filter and the workflow processor (repair saga).</summary>
public static class WorkflowEventConfigurationExtensions
{
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IReceiveEndpointConfigurator, object> Configured = [];

    /// <summary>
    /// Hands this endpoint's non-transient failures to the workflow processor instead of blocking the
    /// queue or dead-ending them in <c>_error</c>: transient failures are retried in place first
    /// (<see cref="WorkflowEventOptions.RetryLimit"/> times; a consumer's own <c>UseMessageRetry</c> runs
    /// inside this filter too, so what it gives up on is handed off), bodies that cannot be deserialized
    /// are captured raw. Call it before other error-pipe configuration on the endpoint,
    /// e.g. in a consumer definition: <c>e.UseWorkflowEvent(context, o =&gt; o.Delegate&lt;ValidationException&gt;())</c>.
    /// </summary>
    public static void UseWorkflowEvent(this IReceiveEndpointConfigurator configurator, IRegistrationContext context,
        Action<WorkflowEventOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        if (!Configured.TryAdd(configurator, new object()))
            throw new ConfigurationException(
                $"UseWorkflowEvent was called twice on the endpoint {configurator.InputAddress}: configure it once per endpoint (its options cover every consumer there).");
        var options = new WorkflowEventOptions();
        configure?.Invoke(options);
        var loggerFactory = context.GetService<ILoggerFactory>();
        var logger = loggerFactory?.CreateLogger("MassTransit.Patterns.Workflow") ?? NullLogger.Instance;

        // One source of the processor's address: the processor registered in this container, unless set.
        var processor = context.GetService<WorkflowProcessorOptions>();
        if (processor is not null && !options.RepairAddressSet)
            options.RepairAddress = processor.Address;

        var metrics = WorkflowMetrics.From(context);
        var holds = context.GetService<WorkflowHoldRegistry>();
        var holdLoader = holds is null ? null : context.GetService<WorkflowHoldLoaderOptions>();
        configurator.AddPipeSpecification(new WorkflowEventSpecification(options, logger, holds, processor, holdLoader, metrics));
        if (options.CaptureMalformed)
            configurator.ConfigureError(x =>
            {
                x.UseFilter(new WorkflowMalformedFilter(options, logger, metrics));
                // What MassTransit puts there by default, kept for everything not captured.
                x.UseFilter(new GenerateFaultFilter());
                x.UseFilter(new ErrorTransportFilter());
            });
    }

    /// <summary>
    /// Registers the workflow processor: the repair saga (<see cref="WorkflowEventStateMachine"/>) and the
    /// query consumer for a person's list and inspect requests, on the queue
    /// <see cref="WorkflowProcessorOptions.QueueName"/>, with saga concurrency retry and the in-memory
    /// outbox (a resubmission leaves only after the saga's state is saved). Chain a repository:
    /// <c>.PatternsEntityFrameworkRepository(r =&gt; r.ExistingDbContext&lt;AppDb&gt;())</c> (map it with
    /// <c>modelBuilder.AddWorkflowEventEntities()</c>) or <c>.InMemoryRepository()</c>. Registers an
    /// <see cref="IWorkflowMessageStore"/> that loads every instance and filters in memory (for the in-memory
    /// repository); with EF Core, <c>services.AddPatternsEntityFrameworkWorkflowStore&lt;AppDb&gt;()</c> replaces it
    /// with one the database computes.
    /// </summary>
    public static ISagaRegistrationConfigurator<WorkflowEventState> AddWorkflowEventProcessor(this IBusRegistrationConfigurator configurator,
        Action<WorkflowProcessorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        var options = new WorkflowProcessorOptions();
        configure?.Invoke(options);
        options.EnsureValid();
        configurator.TryAddSingleton(options);
        WorkflowMetrics.Register(configurator);
        configurator.TryAddSingleton<WorkflowRepairerRegistry>();
        // The person's API, talking to this processor's queue.
        configurator.TryAddSingleton(provider => new WorkflowEventClient(provider.GetRequiredService<IBus>(), options.Address));
        // What a repair console reads: computed in memory from the repository, unless a database's store replaces it.
        configurator.TryAddSingleton<IWorkflowMessageStore, SagaRepositoryWorkflowMessageStore>();

        configurator.AddConsumer<WorkflowQueryConsumer>().Endpoint(e =>
        {
            e.Name = options.QueueName;
            e.ConcurrentMessageLimit = options.ConcurrentMessageLimit;
        });
        return configurator.AddSagaStateMachine<WorkflowEventStateMachine, WorkflowEventState>(typeof(WorkflowEventSagaDefinition));
    }

    /// <summary>
    /// Registers an automatic repairer for <typeparamref name="T"/>: repairers of a type are tried in
    /// registration order. <typeparamref name="TRepairer"/> is resolved per repair from the message scope.
    /// </summary>
    public static IBusRegistrationConfigurator AddMessageRepairer<T, TRepairer>(this IBusRegistrationConfigurator configurator)
        where T : class
        where TRepairer : class, IMessageRepairer<T>
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.TryAddScoped<TRepairer>();
        configurator.AddSingleton(WorkflowRepairerRegistration.Typed<T, TRepairer>());
        return configurator;
    }

    /// <summary>Registers a byte-level repairer, tried after the typed ones, also for bodies that could not be deserialized.</summary>
    public static IBusRegistrationConfigurator AddRawMessageRepairer<TRepairer>(this IBusRegistrationConfigurator configurator)
        where TRepairer : class, IRawMessageRepairer
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.TryAddScoped<TRepairer>();
        configurator.AddSingleton(WorkflowRepairerRegistration.Raw<TRepairer>());
        return configurator;
    }

    /// <summary>
    /// Turns on hold by key in this process (<see cref="WorkflowEventOptions.HoldByKey{T}"/>): the
    /// registry of held keys, loaded from the processor at bus start (the filter waits for it, at most
    /// <see cref="WorkflowHoldLoaderOptions.LoadTimeout"/>) and kept in step with the other instances and
    /// the processor by a consumer on an instance endpoint.
    /// </summary>
    public static IBusRegistrationConfigurator AddWorkflowEventHoldByKey(this IBusRegistrationConfigurator configurator,
        Action<WorkflowHoldLoaderOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        var options = new WorkflowHoldLoaderOptions();
        configure?.Invoke(options);
        configurator.TryAddSingleton(options);
        configurator.TryAddSingleton(new WorkflowHoldRegistry(loadAtStart: true));
        WorkflowMetrics.Register(configurator);
        configurator.AddBusObserver<WorkflowHoldLoader>();
        configurator.AddConsumer<WorkflowHoldConsumer>().Endpoint(e =>
        {
            e.Name = $"workflow-holds-{Environment.MachineName}-{Environment.ProcessId}-{NewId.NextGuid():N}".ToLowerInvariant();
            e.Temporary = true;
        });
        return configurator;
    }

    sealed class WorkflowEventSpecification(WorkflowEventOptions options, ILogger logger, WorkflowHoldRegistry? holds, WorkflowProcessorOptions? processor,
        WorkflowHoldLoaderOptions? holdLoader, WorkflowMetrics metrics) : IPipeSpecification<ConsumeContext>
    {
        public void Apply(IPipeBuilder<ConsumeContext> builder) => builder.AddFilter(new WorkflowEventFilter(options, logger, holds, metrics));

        public IEnumerable<ValidationResult> Validate()
        {
            var validator = options.CreateValidator();
            validator.Require(!options.HoldsByKey || holds is not null, "HoldByKey", "needs the hold registry: call x.AddWorkflowEventHoldByKey() and pass the registration context to UseWorkflowEvent.");
            if (processor is not null && options.RepairAddress is { } repairAddress)
                processor.RequireNamedBy(repairAddress, validator, nameof(WorkflowEventOptions.RepairAddress));
            IEnumerable<ValidationResult> results = validator.ToValidationResults();
            if (processor is not null && holdLoader is { ProcessorAddressSet: true })
            {
                var loader = new OptionsValidator(nameof(WorkflowHoldLoaderOptions));
                processor.RequireNamedBy(holdLoader.ProcessorAddress, loader, nameof(WorkflowHoldLoaderOptions.ProcessorAddress));
                results = results.Concat(loader.ToValidationResults());
            }
            return results;
        }
    }
}
