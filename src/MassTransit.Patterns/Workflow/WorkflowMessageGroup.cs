namespace MassTransit.Patterns.Workflow;

/// <summary>
/// A group of workflow messages and its count. The grouping's keys are set (the others null); turn a group into
/// a filter with <see cref="ToFilter"/> to list it or act on it.
/// </summary>
public sealed record WorkflowMessageGroup
{
    /// <summary>The exception type (grouping by exception and message type).</summary>
    public string? ExceptionType { get; init; }

    /// <summary>The message type URN (grouping by exception and message type; null also for malformed bodies).</summary>
    public string? MessageType { get; init; }

    /// <summary>The source queue (grouping by source queue).</summary>
    public string? SourceAddress { get; init; }

    /// <summary>Messages in the group.</summary>
    public long Count { get; init; }

    /// <summary>The earliest first failure in the group.</summary>
    public DateTimeOffset FirstReceivedAt { get; init; }

    /// <summary>The latest first failure in the group.</summary>
    public DateTimeOffset LastReceivedAt { get; init; }

    /// <summary>The filter that selects this group's messages within <paramref name="within"/> (e.g. its state).</summary>
    public WorkflowMessageFilter ToFilter(WorkflowMessageFilter? within = null) =>
        (within ?? new WorkflowMessageFilter()) with
        {
            ExceptionType = ExceptionType ?? within?.ExceptionType,
            MessageType = MessageType ?? within?.MessageType,
            SourceAddress = SourceAddress ?? within?.SourceAddress
        };
}
