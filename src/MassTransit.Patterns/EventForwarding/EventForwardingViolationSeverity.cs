namespace MassTransit.Patterns.EventForwarding;

/// <summary>How much a setting weakens the event forwarding guarantee.</summary>
public enum EventForwardingViolationSeverity
{
    /// <summary>The setting undoes the guarantee: confirmed messages can be lost or consumed without effect.</summary>
    Error,

    /// <summary>The setting weakens the guarantee in a way that is sometimes intended (in-memory transport in tests, message TTL).</summary>
    Warning
}
