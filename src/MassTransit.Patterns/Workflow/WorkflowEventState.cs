using System.Text.Json;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// One failed message in the workflow processor: its raw body, headers, source, last failure, the
/// attempts made and the audit trail. Plain columns (the audit as JSON), so any saga repository
/// stores it; with EF Core map it with <c>modelBuilder.AddWorkflowEventEntities()</c>. Resolved
/// messages (Completed, Discarded) are kept as the record of what happened.
/// </summary>
public sealed class WorkflowEventState : SagaStateMachineInstance, ISagaVersion
{
    /// <inheritdoc />
    public Guid CorrelationId { get; set; }

    /// <inheritdoc />
    public int Version { get; set; }

    /// <summary>The state: Received, Repairing, Resubmitted, AwaitingPerson, Completed, Discarded.</summary>
    public string CurrentState { get; set; } = "";

    /// <summary>The first message type URN, or null for a malformed body.</summary>
    public string? MessageType { get; set; }

    /// <summary>Every supported message type URN, separated by <c>;</c>.</summary>
    public string MessageTypes { get; set; } = "";

    /// <summary>The queue the message came from, where copies are resubmitted.</summary>
    public string SourceAddress { get; set; } = "";

    /// <summary>The content type of <see cref="Body"/>.</summary>
    public string? ContentType { get; set; }

    /// <summary>The current raw body: as received, then as repaired or edited.</summary>
    public byte[] Body { get; set; } = [];

    /// <summary>The transport headers received with the first failure, as JSON.</summary>
    public string Headers { get; set; } = "{}";

    /// <summary>True when the last failure was a body that could not be deserialized.</summary>
    public bool Malformed { get; set; }

    /// <summary>The last failure's exception type.</summary>
    public string ExceptionType { get; set; } = "";

    /// <summary>The last failure's exception message.</summary>
    public string ExceptionMessage { get; set; } = "";

    /// <summary>The last failure's exception text.</summary>
    public string? ExceptionDetail { get; set; }

    /// <summary>Failures counted (the original and each failed resubmission).</summary>
    public int Failures { get; set; }

    /// <summary>Automatic repairs resubmitted.</summary>
    public int RepairAttempts { get; set; }

    /// <summary>The bound on <see cref="RepairAttempts"/>.</summary>
    public int MaxRepairAttempts { get; set; }

    /// <summary>The lineage attempt of the last resubmitted copy (0 before any).</summary>
    public int Attempt { get; set; }

    /// <summary>Who resubmitted the last copy: <c>repairer:NAME</c> or <c>person:NAME</c>.</summary>
    public string? ResubmittedBy { get; set; }

    /// <summary>When the first failure was received.</summary>
    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>When the workflow last changed.</summary>
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>When it was completed or discarded.</summary>
    public DateTimeOffset? ResolvedAt { get; set; }

    /// <summary>The hold key (hold by key on): later messages of it wait behind this one.</summary>
    public string? HoldKey { get; set; }

    /// <summary>Messages held behind this one, as JSON (released in order when it is resolved).</summary>
    public string HeldMessages { get; set; } = "[]";

    /// <summary>Messages held behind this one (and not yet released).</summary>
    public int HeldCount { get; set; }

    /// <summary>Entries in <see cref="Audit"/>.</summary>
    public int AuditCount { get; set; }

    /// <summary>The audit trail as JSON (read it with <see cref="ReadAudit"/>).</summary>
    public string Audit { get; set; } = "[]";

    /// <summary>The audit trail, oldest first.</summary>
    public IReadOnlyList<WorkflowAuditEntry> ReadAudit() => JsonSerializer.Deserialize<List<WorkflowAuditEntry>>(Audit, JsonOptions) ?? [];

    /// <summary>The headers received with the first failure.</summary>
    public IReadOnlyDictionary<string, string> ReadHeaders() => JsonSerializer.Deserialize<Dictionary<string, string>>(Headers, JsonOptions) ?? [];

    internal static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    internal void AddAudit(DateTimeOffset at, string actor, string action, string? detail, int limit)
    {
        var entry = JsonSerializer.Serialize(new WorkflowAuditEntry { At = at, Actor = actor, Action = action, Detail = detail }, JsonOptions);
        AuditCount++;
        if (AuditCount <= limit && Audit.Length >= 2 && Audit[^1] == ']')
            Audit = Audit.Length <= 2 ? "[" + entry + "]" : string.Concat(Audit.AsSpan(0, Audit.Length - 1), ",", entry, "]");
        else
        {
            // Beyond the limit the first entry (the original failure) is kept and the oldest after it dropped.
            var entries = ReadAudit().ToList();
            entries.Add(JsonSerializer.Deserialize<WorkflowAuditEntry>(entry, JsonOptions)!);
            if (entries.Count > limit)
                entries.RemoveRange(1, entries.Count - limit);
            Audit = JsonSerializer.Serialize(entries, JsonOptions);
            AuditCount = entries.Count;
        }
        UpdatedAt = at;
    }

    internal List<HeldMessage> ReadHeld() => JsonSerializer.Deserialize<List<HeldMessage>>(HeldMessages, JsonOptions) ?? [];

    internal void WriteHeld(List<HeldMessage> held)
    {
        HeldMessages = JsonSerializer.Serialize(held, JsonOptions);
        HeldCount = held.Count(h => !h.Released);
    }

    internal string? QueueName() => MassTransit.Patterns.Addressing.AddressNames.EntityName(Uri.TryCreate(SourceAddress, UriKind.Absolute, out var uri) ? uri : null);

    internal HashSet<string> MessageTypeList() => [.. MessageTypes.Split(';', StringSplitOptions.RemoveEmptyEntries)];

    internal WorkflowFailureInfo ToFailureInfo() =>
        new(CorrelationId, MessageType, ExceptionType, ExceptionMessage, Malformed, RepairAttempts, ReadHeaders());

    /// <summary>Everything known of this message, as a person's inspect shows it.</summary>
    internal WorkflowMessageDetails ToDetails()
    {
        var (body, isBase64) = WorkflowBody.ToText(Body);
        return new WorkflowMessageDetails
        {
            Found = true,
            Summary = ToSummary(),
            Body = body,
            BodyIsBase64 = isBase64,
            ContentType = ContentType,
            Headers = new Dictionary<string, string>(ReadHeaders()),
            ExceptionDetail = ExceptionDetail,
            Malformed = Malformed,
            Audit = [.. ReadAudit()],
            Version = Version,
            MaxRepairAttempts = MaxRepairAttempts,
            Attempt = Attempt,
            ResubmittedBy = ResubmittedBy,
            ResolvedAt = ResolvedAt,
            HoldKey = HoldKey,
            HeldCount = HeldCount
        };
    }

    internal WorkflowMessageSummary ToSummary() => new()
    {
        CorrelationId = CorrelationId,
        State = CurrentState,
        MessageType = MessageType,
        SourceAddress = Uri.TryCreate(SourceAddress, UriKind.Absolute, out var source) ? source : null,
        ExceptionType = ExceptionType,
        ExceptionMessage = ExceptionMessage,
        Failures = Failures,
        RepairAttempts = RepairAttempts,
        ReceivedAt = ReceivedAt,
        UpdatedAt = UpdatedAt
    };
}
