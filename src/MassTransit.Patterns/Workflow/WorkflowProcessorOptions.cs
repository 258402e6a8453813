using MassTransit.Patterns.Addressing;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Workflow;

/// <summary>Options of the workflow processor (the repair saga).</summary>
public sealed class WorkflowProcessorOptions : IPatternOptions
{
    /// <summary>The processor's default queue name.</summary>
    public const string DefaultQueueName = "workflow-repair";

    internal static Uri DefaultAddress => new("queue:" + DefaultQueueName);

    /// <summary>
    /// The queue the saga (and the person's commands) listen on: the one source of the processor's address for
    /// the endpoints' <c>UseWorkflowEvent</c>, the hold loader and the <see cref="WorkflowEventClient"/> registered
    /// in the same container.
    /// </summary>
    public string QueueName { get; set; } = DefaultQueueName;

    /// <summary>The processor's address: <c>queue:</c> + <see cref="QueueName"/>.</summary>
    public Uri Address => new("queue:" + QueueName);

    /// <summary>
    /// Checks that <paramref name="address"/>, set as <paramref name="option"/>, names this processor's queue
    /// (any form: <c>queue:</c>, <c>exchange:</c>, a full address): a hand-off to another queue would pile up
    /// where nothing reads it.
    /// </summary>
    internal void RequireNamedBy(Uri address, OptionsValidator validator, string option) =>
        validator.Require(string.Equals(AddressNames.EntityName(address), QueueName, StringComparison.Ordinal), option,
            $"is {address}, but the workflow processor in this container listens on WorkflowProcessorOptions.QueueName '{QueueName}': "
            + "leave it unset to follow the processor, or set it to that queue.");

    /// <summary>Automatic repair attempts (resubmissions of a repaired copy) before a person must act, unless the endpoint says otherwise.</summary>
    public int MaxRepairAttempts { get; set; } = 3;

    /// <summary>Audit entries kept per message (the oldest after the first are dropped beyond it).</summary>
    public int AuditLimit { get; set; } = 200;

    /// <summary>Messages the processor's endpoint handles at once.</summary>
    public int ConcurrentMessageLimit { get; set; } = 16;

    readonly List<Type> _messageTypes = [];

    /// <summary>
    /// The .NET message types added with <see cref="AddMessageType{T}"/>. A person's edited body whose message type
    /// URN is one of these, or of a type a typed repairer is registered for (<c>AddMessageRepairer&lt;T, TRepairer&gt;</c>),
    /// is deserialized to it with MassTransit's System.Text.Json options before the edit is accepted.
    /// </summary>
    public IReadOnlyList<Type> MessageTypes => _messageTypes;

    /// <summary>
    /// Adds <typeparamref name="T"/> to the types an edited body is checked against (<see cref="MessageTypes"/>): an
    /// edit of a message of this type whose body does not deserialize to it is refused with the reason.
    /// </summary>
    public WorkflowProcessorOptions AddMessageType<T>()
        where T : class
    {
        if (!_messageTypes.Contains(typeof(T)))
            _messageTypes.Add(typeof(T));
        return this;
    }

    /// <summary>The largest edited body accepted, in bytes (default 1 MiB); a larger edit is refused as invalid.</summary>
    public int MaxEditedBodyBytes { get; set; } = 1024 * 1024;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.NotEmpty(QueueName, nameof(QueueName));
        validator.NotNegative(MaxRepairAttempts, nameof(MaxRepairAttempts));
        validator.InRange(AuditLimit, 2, 100_000, nameof(AuditLimit));
        validator.Positive(ConcurrentMessageLimit, nameof(ConcurrentMessageLimit));
        validator.Positive(MaxEditedBodyBytes, nameof(MaxEditedBodyBytes));
    }
}
