using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>The inbox and outbox on one receive endpoint.</summary>
public sealed class ForwardingEndpointOptions : IPatternOptions
{
    /// <summary>
    /// Records each consumed message id with the consumer's writes and acknowledges a redelivered copy
    /// without running the consumer. Default true; off, the outbox still commits sends with the
    /// writes, but a redelivery after a crash between commit and acknowledgement applies again.
    /// </summary>
    public bool Inbox { get; set; } = true;

    /// <summary>The batched mode's options, or null (the default) for one transaction per message.</summary>
    public ForwardingBatchOptions? BatchOptions { get; private set; }

    /// <summary>
    /// Turns on batched inbox transactions (<see cref="ForwardingBatchOptions"/>): messages waiting together
    /// commit in one transaction. Off by default: one transaction per message.
    /// </summary>
    public ForwardingEndpointOptions Batching(Action<ForwardingBatchOptions>? configure = null)
    {
        var options = BatchOptions ?? new ForwardingBatchOptions();
        configure?.Invoke(options);
        BatchOptions = options;
        return this;
    }

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        ArgumentNullException.ThrowIfNull(validator);
        if (BatchOptions is null)
            return;
        validator.Require(Inbox, nameof(Batching), "needs the inbox (Inbox = true): a batch claims its messages' inbox keys in one statement (was Inbox = false).");
        BatchOptions.Validate(validator);
    }
}
