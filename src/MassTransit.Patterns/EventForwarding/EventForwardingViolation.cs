namespace MassTransit.Patterns.EventForwarding;

/// <summary>How much a setting weakens the event forwarding guarantee.</summary>
public enum EventForwardingViolationSeverity
{
    /// <summary>The setting undoes the guarantee: confirmed messages can be lost or consumed without effect.</summary>
    Error,

    /// <summary>The setting weakens the guarantee in a way that is sometimes intended (in-memory transport in tests, message TTL).</summary>
    Warning
}

/// <summary>A setting found to undo or weaken the event forwarding guarantee.</summary>
/// <param name="Setting">Where the setting is, e.g. <c>RabbitMQ host PublisherConfirmation</c> or <c>endpoint orders: AutoDelete</c>.</param>
/// <param name="Problem">What goes wrong because of it.</param>
/// <param name="Severity">Whether it undoes the guarantee or only weakens it.</param>
public sealed record EventForwardingViolation(string Setting, string Problem, EventForwardingViolationSeverity Severity = EventForwardingViolationSeverity.Error)
{
    /// <inheritdoc />
    public override string ToString() => $"{Setting}: {Problem}";
}

/// <summary>
/// Thrown when a setting undoes the event forwarding guarantee and
/// <see cref="EventForwardingOptions.OnViolation"/> is <see cref="EventForwardingViolationAction.Fail"/>:
/// at bus start for configuration, at send time for a send that turns persistence or confirmation off.
/// </summary>
public sealed class EventForwardingViolationException : ConfigurationException
{
    /// <summary>Creates the exception for the violations found.</summary>
    public EventForwardingViolationException(IReadOnlyList<EventForwardingViolation> violations)
        : base("Event forwarding guarantee broken by configuration: " + string.Join("; ", violations))
    {
        Violations = violations;
    }

    /// <summary>Every violation found.</summary>
    public IReadOnlyList<EventForwardingViolation> Violations { get; }
}
