using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Dashboard;

/// <summary>Every change the console makes, sent to the workflow processor through <see cref="WorkflowEventClient"/> with the actor.</summary>
sealed class DashboardCommands(WorkflowEventClient client, IBus bus, WorkflowProcessorOptions? processor)
{
    public Task<WorkflowCommandResult> EditAsync(Guid id, string body, string? contentType, int expectedVersion, string actor, string? comment,
        CancellationToken cancellationToken) =>
        client.EditAsync(id, body, actor, comment, contentType, cancellationToken);

    public Task<WorkflowCommandResult> ResubmitAsync(Guid id, string actor, string? comment, CancellationToken cancellationToken) =>
        client.ResubmitAsync(id, actor, comment, cancellationToken);

    public Task<WorkflowCommandResult> DiscardAsync(Guid id, string actor, string? comment, CancellationToken cancellationToken) =>
        client.DiscardAsync(id, actor, comment, cancellationToken);

    public async Task<WorkflowCommandResult> RestoreAsync(Guid id, string actor, string? comment, CancellationToken cancellationToken)
    {
        var request = bus.CreateRequestClient<RestoreWorkflowMessage>(processor?.Address ?? new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName), TimeSpan.FromSeconds(30));
        var response = await request.GetResponse<WorkflowCommandResult>(new RestoreWorkflowMessage { CorrelationId = id, Actor = actor, Comment = comment },
            cancellationToken).ConfigureAwait(false);
        return response.Message;
    }
}
