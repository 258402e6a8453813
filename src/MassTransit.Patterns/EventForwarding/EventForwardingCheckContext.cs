using MassTransit.Transports;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>What a start-up check of event forwarding can look at.</summary>
/// <param name="Bus">The bus being started.</param>
/// <param name="BusInstance">The bus instance from the container (its host configuration), when it is the bus being started.</param>
sealed record EventForwardingCheckContext(IBus Bus, IBusInstance? BusInstance);
