namespace MassTransit.Patterns.Workflow;

/// <summary>What a repairer decided.</summary>
public enum RepairOutcome
{
    /// <summary>Not fixed by this repairer; the next one is tried, then a person.</summary>
    CannotRepair,

    /// <summary>Fixed: the message is resubmitted.</summary>
    Repaired,

    /// <summary>Not to be processed: discarded, with the reason in the audit.</summary>
    Discard
}
