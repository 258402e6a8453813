namespace MassTransit.Patterns.Workflow;

/// <summary>A page of workflow messages: which (<see cref="Filter"/>), in what order and which page.</summary>
public sealed record WorkflowMessageQuery
{
    /// <summary>Which messages.</summary>
    public WorkflowMessageFilter Filter { get; init; } = new();

    /// <summary>The order. Default: first received.</summary>
    public WorkflowMessageSort Sort { get; init; } = WorkflowMessageSort.ReceivedAt;

    /// <summary>Newest (or largest) first. Default true.</summary>
    public bool Descending { get; init; } = true;

    /// <summary>The page, from 1.</summary>
    public int Page { get; init; } = 1;

    /// <summary>Messages per page (1-500). Default 50.</summary>
    public int PageSize { get; init; } = 50;
}
