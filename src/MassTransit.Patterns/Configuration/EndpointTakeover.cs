using System.Runtime.CompilerServices;
using MassTransit.Configuration;
using MassTransit.Transports;

namespace MassTransit.Patterns.Configuration;

/// <summary>What a pattern takes over on a receive endpoint, so that two patterns that would both take it refuse to start together.</summary>
[Flags]
enum EndpointTakeover
{
    None = 0,

    /// <summary>The endpoint's concurrent message limit and prefetch: the pattern sets them and decides what runs within them.</summary>
    Concurrency = 1,

    /// <summary>The order of the endpoint's deliveries: every message of a key goes through this endpoint's one pipe, in delivery order.</summary>
    DeliveryOrder = 2
}
