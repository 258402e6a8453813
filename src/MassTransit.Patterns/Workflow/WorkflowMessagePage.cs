namespace MassTransit.Patterns.Workflow;

/// <summary>One page of workflow messages.</summary>
public sealed record WorkflowMessagePage
{
    /// <summary>The messages of the page, in the query's order.</summary>
    public IReadOnlyList<WorkflowMessageSummary> Items { get; init; } = [];

    /// <summary>How many messages match the filter in all.</summary>
    public long Total { get; init; }

    /// <summary>The page, from 1.</summary>
    public int Page { get; init; }

    /// <summary>Messages per page.</summary>
    public int PageSize { get; init; }
}
