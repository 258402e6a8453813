namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Repairs failed messages at the byte level, whatever their type, including bodies that could not be
/// deserialized (malformed). Registered with <c>x.AddRawMessageRepairer&lt;TRepairer&gt;()</c>, tried
/// after the typed repairers.
/// </summary>
public interface IRawMessageRepairer
{
    /// <summary>Returns the repaired body, a discard, or that it cannot repair.</summary>
    Task<RawRepairResult> Repair(RawMessageRepairContext context, CancellationToken cancellationToken);
}
