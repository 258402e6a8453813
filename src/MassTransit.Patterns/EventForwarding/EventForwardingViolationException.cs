namespace MassTransit.Patterns.EventForwarding;

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
