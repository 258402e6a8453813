namespace MassTransit.Patterns.Workflow;

/// <summary>Which workflow messages a list, a group count or a bulk action covers; every criterion given must hold.</summary>
public sealed record WorkflowMessageFilter
{
    /// <summary>Only this state (e.g. <c>AwaitingPerson</c>).</summary>
    public string? State { get; init; }

    /// <summary>Only this message type URN (exact).</summary>
    public string? MessageType { get; init; }

    /// <summary>Only this exception type (exact, full name).</summary>
    public string? ExceptionType { get; init; }

    /// <summary>Only messages from this source queue address (exact).</summary>
    public string? SourceAddress { get; init; }

    /// <summary>Only messages first received at or after this time.</summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Only messages first received before this time.</summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Only messages whose body or exception message contains this text.</summary>
    public string? Search { get; init; }
}
