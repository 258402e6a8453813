namespace MassTransit.Patterns.Multibroker;

/// <summary>Thrown by a send to an in-memory broker during a simulated outage.</summary>
public sealed class InMemoryBrokerDownException() : MassTransitException("The in-memory broker is down (simulated outage).");
