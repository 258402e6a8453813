namespace MassTransit.Patterns.Workflow;

/// <summary>The column a page of workflow messages is ordered by (ties broken by id).</summary>
public enum WorkflowMessageSort
{
    /// <summary>When the first failure was received.</summary>
    ReceivedAt,

    /// <summary>When the workflow last changed.</summary>
    UpdatedAt,

    /// <summary>The state.</summary>
    State,

    /// <summary>The message type.</summary>
    MessageType,

    /// <summary>The last failure's exception type.</summary>
    ExceptionType,

    /// <summary>The source queue.</summary>
    SourceAddress,

    /// <summary>Failures counted.</summary>
    Failures
}
