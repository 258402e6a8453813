namespace MassTransit.Patterns.EventForwarding;

/// <summary>A setting found to undo or weaken the event forwarding guarantee.</summary>
/// <param name="Setting">Where the setting is, e.g. <c>RabbitMQ host PublisherConfirmation</c> or <c>endpoint orders: AutoDelete</c>.</param>
/// <param name="Problem">What goes wrong because of it.</param>
/// <param name="Severity">Whether it undoes the guarantee or only weakens it.</param>
public sealed record EventForwardingViolation(string Setting, string Problem, EventForwardingViolationSeverity Severity = EventForwardingViolationSeverity.Error)
{
    /// <inheritdoc />
    public override string ToString() => $"{Setting}: {Problem}";
}
