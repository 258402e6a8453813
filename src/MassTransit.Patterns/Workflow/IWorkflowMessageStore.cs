namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Reads the workflow processor's store for screens and scripts: pages, groups and counts computed by the
/// database (indexed), and one message in full. Read-only: every change goes through the processor
/// (<see cref="WorkflowEventClient"/>), which applies it to the saga under its concurrency rules.
/// Registered by the repository's package (EF Core: <c>services.AddPatternsEntityFrameworkWorkflowStore&lt;TDbContext&gt;()</c>).
/// </summary>
public interface IWorkflowMessageStore
{
    /// <summary>One page of the messages that match the query's filter, in its order, with the total that match.</summary>
    Task<WorkflowMessagePage> ListAsync(WorkflowMessageQuery query, CancellationToken cancellationToken = default);

    /// <summary>The messages that match <paramref name="filter"/>, counted per group, largest group first.</summary>
    Task<IReadOnlyList<WorkflowMessageGroup>> GroupsAsync(WorkflowMessageFilter filter, WorkflowGrouping grouping, CancellationToken cancellationToken = default);

    /// <summary>Messages per state (every state the store holds; states with none are absent).</summary>
    Task<IReadOnlyDictionary<string, long>> CountByStateAsync(CancellationToken cancellationToken = default);

    /// <summary>One message in full, or null when no workflow has that id.</summary>
    Task<WorkflowMessageDetails?> FindAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>The ids of up to <paramref name="limit"/> messages that match <paramref name="filter"/>, oldest first (for actions on a group).</summary>
    Task<IReadOnlyList<Guid>> IdsAsync(WorkflowMessageFilter filter, int limit, CancellationToken cancellationToken = default);
}
