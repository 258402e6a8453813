namespace MassTransit.Patterns.Workflow;

/// <summary>Why a person's command was refused (<see cref="WorkflowCommandResult.Refusal"/>).</summary>
public enum WorkflowCommandRefusal
{
    /// <summary>Not refused.</summary>
    None,

    /// <summary>No workflow has that id.</summary>
    NotFound,

    /// <summary>The message is in a state where the command does not apply (e.g. resubmit while Resubmitted).</summary>
    WrongState,

    /// <summary>The command was made on an older version of the message than the stored one (someone changed it since).</summary>
    Stale,

    /// <summary>The command's content is invalid (no actor; a body that does not deserialize to the message type).</summary>
    Invalid
}
