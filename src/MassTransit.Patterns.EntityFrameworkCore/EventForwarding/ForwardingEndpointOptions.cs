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

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
    }
}
