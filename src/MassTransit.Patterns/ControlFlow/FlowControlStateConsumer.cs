using MassTransit.Patterns.ControlFlow.Contracts;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>Feeds statements published by flow monitors in other processes into this process's store.</summary>
sealed class FlowControlStateConsumer(FlowControlStateStore store) : IConsumer<FlowControlStateChanged>
{
    /// <inheritdoc />
    public Task Consume(ConsumeContext<FlowControlStateChanged> context)
    {
        store.Apply(context.Message);
        return Task.CompletedTask;
    }
}
