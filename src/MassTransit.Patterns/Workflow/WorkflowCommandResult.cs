namespace MassTransit.Patterns.Workflow;

/// <summary>The answer to a person's command.</summary>
public sealed record WorkflowCommandResult
{
    /// <summary>The workflow's id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>True when the command was applied.</summary>
    public bool Accepted { get; init; }

    /// <summary>The workflow's state after the command.</summary>
    public string State { get; init; } = "";

    /// <summary>Why a command was refused (e.g. the message is not waiting for a person).</summary>
    public string? Reason { get; init; }

    /// <summary>Why the command was refused, as a kind a caller can act on (<see cref="Reason"/> says it in words).</summary>
    public WorkflowCommandRefusal Refusal { get; init; }
}
