namespace MassTransit.Patterns.Workflow;

/// <summary>What a raw repairer is given.</summary>
/// <param name="Body">The stored raw body.</param>
/// <param name="ContentType">Its content type.</param>
/// <param name="Failure">The failure: exception type and message, attempts so far.</param>
public sealed record RawMessageRepairContext(byte[] Body, string? ContentType, WorkflowFailureInfo Failure);
