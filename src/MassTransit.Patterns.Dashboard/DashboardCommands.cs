using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Dashboard;

/// <summary>Every change the console makes, sent to the workflow processor through <see cref="WorkflowEventClient"/> with the actor.</summary>
sealed class DashboardCommands(WorkflowEventClient client)
{
    public Task<WorkflowCommandResult> EditAsync(Guid id, string body, string? contentType, int expectedVersion, string actor, string? comment,
        CancellationToken cancellationToken) =>
        client.EditAsync(id, body, actor, comment, contentType, expectedVersion, cancellationToken);

    public Task<WorkflowCommandResult> ResubmitAsync(Guid id, string actor, string? comment, CancellationToken cancellationToken) =>
        client.ResubmitAsync(id, actor, comment, cancellationToken);

    public Task<WorkflowCommandResult> DiscardAsync(Guid id, string actor, string? comment, CancellationToken cancellationToken) =>
        client.DiscardAsync(id, actor, comment, cancellationToken);

    public Task<WorkflowCommandResult> RestoreAsync(Guid id, string actor, string? comment, CancellationToken cancellationToken) =>
        client.RestoreAsync(id, actor, comment, cancellationToken);
}
