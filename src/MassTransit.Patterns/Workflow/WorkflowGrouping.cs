namespace MassTransit.Patterns.Workflow;

/// <summary>How workflow messages are grouped for counts and actions on a whole group.</summary>
public enum WorkflowGrouping
{
    /// <summary>By exception type and message type together (the same failure of the same message).</summary>
    ExceptionAndMessageType,

    /// <summary>By source queue.</summary>
    SourceQueue
}
