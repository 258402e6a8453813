using MassTransit.Saga;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Answers a person's list and inspect requests from the saga repository (any repository that
/// MassTransit can query and load: in-memory, our EF Core one).
/// </summary>
sealed class WorkflowQueryConsumer(IQuerySagaRepository<WorkflowEventState> query, ILoadSagaRepository<WorkflowEventState> load) :
    IConsumer<ListWorkflowMessages>,
    IConsumer<InspectWorkflowMessage>,
    IConsumer<ListHeldKeys>
{
    /// <inheritdoc />
    public async Task Consume(ConsumeContext<ListHeldKeys> context)
    {
        var ids = await query.Find(new SagaQuery<WorkflowEventState>(s => s.HoldKey != null && s.CurrentState != "Completed" && s.CurrentState != "Discarded"))
            .ConfigureAwait(false);
        var keys = new List<WorkflowKeyHeld>();
        foreach (var id in ids)
            if (await load.Load(id).ConfigureAwait(false) is { HoldKey: { } key } saga)
                keys.Add(new WorkflowKeyHeld { Queue = saga.QueueName() ?? "", Key = key, LeaderId = saga.CorrelationId });
        await context.RespondAsync(new HeldKeyList { Keys = [.. keys] }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<ListWorkflowMessages> context)
    {
        var state = context.Message.State;
        var limit = Math.Clamp(context.Message.Limit, 1, 10_000);
        var filter = state is null
            ? new SagaQuery<WorkflowEventState>(s => true)
            : new SagaQuery<WorkflowEventState>(s => s.CurrentState == state);
        var ids = await query.Find(filter).ConfigureAwait(false);
        var found = new List<WorkflowMessageSummary>();
        foreach (var id in ids)
            if (await load.Load(id).ConfigureAwait(false) is { } saga)
                found.Add(saga.ToSummary());
        await context.RespondAsync(new WorkflowMessageList
        {
            Messages = [.. found.OrderByDescending(s => s.ReceivedAt).Take(limit)]
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<InspectWorkflowMessage> context)
    {
        var saga = await load.Load(context.Message.CorrelationId).ConfigureAwait(false);
        if (saga is null)
        {
            await context.RespondAsync(new WorkflowMessageDetails { Found = false }).ConfigureAwait(false);
            return;
        }

        await context.RespondAsync(saga.ToDetails()).ConfigureAwait(false);
    }
}
