namespace MassTransit.Patterns.Ambulance;

/// <summary>Where a lane's consumers come from: the bus registration (<c>ConfigureEndpoints</c>) or a <c>ReceiveEndpoint</c> of the lane's own.</summary>
enum LaneSource
{
    Registered,
    Manual
}
