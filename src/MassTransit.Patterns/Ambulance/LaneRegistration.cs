namespace MassTransit.Patterns.Ambulance;

/// <summary>One lane being configured: its options, where its consumers come from, and what has been seen of it.</summary>
sealed class LaneRegistration(AmbulanceLaneOptions options, LaneSource source)
{
    public AmbulanceLaneOptions Options { get; } = options;

    public LaneSource Source { get; } = source;

    public Type? ConsumerType { get; init; }

    public Action<IReceiveEndpointConfigurator>? ConfigureEndpoint { get; init; }

    public LaneGate? Gate { get; set; }

    public IReceiveEndpointConfigurator? LaneEndpoint { get; set; }

    public bool QueueEndpointSeen { get; set; }
}
