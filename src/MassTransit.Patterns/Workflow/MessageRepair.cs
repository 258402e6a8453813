namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Repairs failed messages of type <typeparamref name="T"/> automatically. Register several with
/// <c>x.AddMessageRepairer&lt;T, TRepairer&gt;()</c>: they are tried in registration order until one
/// repairs or discards. A repairer runs inside the workflow processor (a scoped service of its
/// message), so it may use the application's services.
/// </summary>
public interface IMessageRepairer<T>
    where T : class
{
    /// <summary>Returns <see cref="RepairResult{T}.Repaired"/>, <see cref="RepairResult{T}.Discard"/> or <see cref="RepairResult{T}.CannotRepair"/>.</summary>
    Task<RepairResult<T>> Repair(MessageRepairContext<T> context, CancellationToken cancellationToken);
}

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

/// <summary>What a typed repairer is given.</summary>
/// <param name="Message">The failed message, deserialized from the body stored by the workflow.</param>
/// <param name="Failure">The failure: exception type and message, attempts so far.</param>
public sealed record MessageRepairContext<T>(T Message, WorkflowFailureInfo Failure)
    where T : class;

/// <summary>What a raw repairer is given.</summary>
/// <param name="Body">The stored raw body.</param>
/// <param name="ContentType">Its content type.</param>
/// <param name="Failure">The failure: exception type and message, attempts so far.</param>
public sealed record RawMessageRepairContext(byte[] Body, string? ContentType, WorkflowFailureInfo Failure);

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

/// <summary>The outcome of a typed repairer.</summary>
public sealed class RepairResult<T>
    where T : class
{
    RepairResult(RepairOutcome outcome, T? message, string? note)
    {
        Outcome = outcome;
        Message = message;
        Note = note;
    }

    /// <summary>Repaired, discard, or cannot repair.</summary>
    public RepairOutcome Outcome { get; }

    /// <summary>The repaired message, when repaired.</summary>
    public T? Message { get; }

    /// <summary>What was changed or why (recorded in the audit).</summary>
    public string? Note { get; }

    /// <summary>The message is fixed: resubmit <paramref name="message"/> to its source queue.</summary>
    public static RepairResult<T> Repaired(T message, string? note = null) => new(RepairOutcome.Repaired, message ?? throw new ArgumentNullException(nameof(message)), note);

    /// <summary>The message should not be processed: discard it (recorded, not resubmitted).</summary>
    public static RepairResult<T> Discard(string reason) => new(RepairOutcome.Discard, null, reason);

    /// <summary>This repairer cannot fix it: try the next one (then a person).</summary>
    public static RepairResult<T> CannotRepair(string? reason = null) => new(RepairOutcome.CannotRepair, null, reason);
}

/// <summary>The outcome of a raw repairer.</summary>
public sealed class RawRepairResult
{
    RawRepairResult(RepairOutcome outcome, byte[]? body, string? contentType, string? note)
    {
        Outcome = outcome;
        Body = body;
        ContentType = contentType;
        Note = note;
    }

    /// <summary>Repaired, discard, or cannot repair.</summary>
    public RepairOutcome Outcome { get; }

    /// <summary>The repaired body, when repaired.</summary>
    public byte[]? Body { get; }

    /// <summary>A new content type, or null to keep the stored one.</summary>
    public string? ContentType { get; }

    /// <summary>What was changed or why (recorded in the audit).</summary>
    public string? Note { get; }

    /// <summary>The body is fixed: resubmit it.</summary>
    public static RawRepairResult Repaired(byte[] body, string? contentType = null, string? note = null) =>
        new(RepairOutcome.Repaired, body ?? throw new ArgumentNullException(nameof(body)), contentType, note);

    /// <summary>The message should not be processed: discard it.</summary>
    public static RawRepairResult Discard(string reason) => new(RepairOutcome.Discard, null, null, reason);

    /// <summary>This repairer cannot fix it.</summary>
    public static RawRepairResult CannotRepair(string? reason = null) => new(RepairOutcome.CannotRepair, null, null, reason);
}

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
