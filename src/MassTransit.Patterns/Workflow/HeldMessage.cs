using System.Text.Json;

namespace MassTransit.Patterns.Workflow;

/// <summary>A message held behind a workflow (hold by key).</summary>
/// <remarks>
/// <see cref="Released"/> marks the last message of a release on its way back through the endpoint (kept without its body):
/// messages held meanwhile wait until it has come back (<see cref="WorkflowReleaseDrained"/>), then are released after it.
/// </remarks>
sealed record HeldMessage(Guid MessageId, long Sequence, string? SourceAddress, string? ContentType, byte[] Body, Dictionary<string, string> Headers,
    bool Released = false);
