using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Marker bus type under which the multibroker's consumers, sagas and definitions are registered (once).
/// It is never resolved: each broker gets a bus of its own, built from these registrations.
/// </summary>
public interface IMultibrokerBus : IBus;
