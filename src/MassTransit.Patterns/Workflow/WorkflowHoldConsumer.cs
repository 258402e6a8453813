namespace MassTransit.Patterns.Workflow;

/// <summary>Keeps this process's <see cref="WorkflowHoldRegistry"/> in step with the other instances and the processor.</summary>
sealed class WorkflowHoldConsumer(WorkflowHoldRegistry registry) : IConsumer<WorkflowKeyHeld>, IConsumer<WorkflowKeyReleased>
{
    /// <inheritdoc />
    public Task Consume(ConsumeContext<WorkflowKeyHeld> context)
    {
        registry.Hold(context.Message.Queue, context.Message.Key, context.Message.LeaderId);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task Consume(ConsumeContext<WorkflowKeyReleased> context)
    {
        var m = context.Message;
        if (m.IfDrained)
            registry.ReleaseIfDrained(m.Queue, m.Key, m.LeaderId, m.LastReleasedId);
        else
            registry.Release(m.Queue, m.Key, m.LeaderId);
        return Task.CompletedTask;
    }
}
