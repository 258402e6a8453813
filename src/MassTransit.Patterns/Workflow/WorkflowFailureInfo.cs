namespace MassTransit.Patterns.Workflow;

/// <summary>The failure a repairer looks at.</summary>
/// <param name="MessageId">The workflow's id (the original message id).</param>
/// <param name="MessageType">The message type URN, or null when malformed.</param>
/// <param name="ExceptionType">The last failure's exception type (full name).</param>
/// <param name="ExceptionMessage">The last failure's exception message.</param>
/// <param name="Malformed">True when the body could not be deserialized.</param>
/// <param name="RepairAttempts">Automatic repairs already resubmitted for this message.</param>
/// <param name="Headers">The transport headers received with the first failure.</param>
public sealed record WorkflowFailureInfo(Guid MessageId, string? MessageType, string ExceptionType, string ExceptionMessage, bool Malformed,
    int RepairAttempts, IReadOnlyDictionary<string, string> Headers);
