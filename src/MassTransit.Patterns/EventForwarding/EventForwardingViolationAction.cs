namespace MassTransit.Patterns.EventForwarding;

/// <summary>What a setting that undoes the event forwarding guarantee does.</summary>
public enum EventForwardingViolationAction
{
    /// <summary>The bus does not start (and a send that breaks the guarantee throws): the guarantee holds or nothing runs.</summary>
    Fail,

    /// <summary>The violation is logged and counted; the bus runs without the guarantee for what the setting touches.</summary>
    Warn
}
