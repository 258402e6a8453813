namespace MassTransit.Patterns.Multibroker;

/// <summary>Where a broker stands with the multibroker facade.</summary>
public enum BrokerState
{
    /// <summary>Its bus has not started yet (the broker was unreachable at start, or is starting).</summary>
    Starting,

    /// <summary>Connected and not ejected: in rotation.</summary>
    Healthy,

    /// <summary>Its bus reports the broker unreachable (connection lost, receive endpoints down): out of rotation.</summary>
    Disconnected,

    /// <summary>Sends or a probe failed (no confirm in time, connection error): out of rotation until the ejection time passes, then <see cref="Probing"/>.</summary>
    Ejected,

    /// <summary>
    /// Its ejection time is over, but it stays out of rotation until it answers a probe (a real round
    /// trip with <see cref="MultibrokerOptions.ProbeTimeout"/>) or confirms a send: a hung broker is
    /// never re-admitted on a timer alone. A failed probe ejects it again, for twice as long.
    /// </summary>
    Probing,

    /// <summary>
    /// Held out of rotation by an operator (<see cref="IMultibroker.Hold"/>): no message is sent through it, not even
    /// when every other broker fails, and neither probes nor its health put it back. <see cref="IMultibroker.Release"/>
    /// ends the hold; then the normal rules apply (in rotation once it is connected, not ejected and owes no probe).
    /// </summary>
    Held
}
