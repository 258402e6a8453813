
namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The processor's endpoint: its queue and concurrency from <see cref="WorkflowProcessorOptions"/>, saga
/// concurrency conflicts retried, and the in-memory outbox (a resubmission or release leaves only after
/// the state is saved).
/// </summary>
sealed class WorkflowEventSagaDefinition : SagaDefinition<WorkflowEventState>
{
    /// <summary>Created by the container with the processor's options.</summary>
    public WorkflowEventSagaDefinition(WorkflowProcessorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        EndpointName = options.QueueName;
        ConcurrentMessageLimit = options.ConcurrentMessageLimit;
    }

    /// <inheritdoc />
    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<WorkflowEventState> sagaConfigurator,
        IRegistrationContext context)
    {
        endpointConfigurator.UseSagaConcurrencyRetry();
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
