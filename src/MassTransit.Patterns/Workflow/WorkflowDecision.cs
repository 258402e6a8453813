namespace MassTransit.Patterns.Workflow;

/// <summary>What the workflow event filter does with a failure.</summary>
public enum WorkflowDecision
{
    /// <summary>Hand it to the workflow processor and acknowledge the original.</summary>
    Delegate,

    /// <summary>MassTransit's normal error path (fault, <c>_error</c> queue).</summary>
    ErrorPath
}
