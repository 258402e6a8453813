using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>
/// The supervisor saga's endpoint: a lost race on the saga row (<see cref="ConcurrencyException"/>,
/// when several instances host the saga on a shared store) is retried, and the answer is sent only
/// once the attempt commits.
/// </summary>
internal sealed class ConsumerSupervisorSagaDefinition : SagaDefinition<ConsumerSupervisorState>
{
    /// <summary>Creates the definition.</summary>
    public ConsumerSupervisorSagaDefinition()
    {
        ConcurrentMessageLimit = 8;
    }

    /// <inheritdoc />
    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<ConsumerSupervisorState> sagaConfigurator,
        IRegistrationContext context)
    {
        endpointConfigurator.UseSagaConcurrencyRetry();
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
