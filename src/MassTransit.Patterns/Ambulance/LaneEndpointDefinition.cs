using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The lane's endpoint definition: the queue endpoint's definition (its temporary flag and its configure callbacks)
/// under the lane's name, with the lane's own concurrency and prefetch and no consume topology (the lane receives
/// only through the fork).
/// </summary>
sealed class LaneEndpointDefinition(IEndpointDefinition queue, AmbulanceLaneOptions lane, IRegistrationContext context) : IEndpointDefinition
{
    public bool IsTemporary => queue.IsTemporary;

    public int? PrefetchCount => lane.EffectivePrefetchCount;

    public int? ConcurrentMessageLimit => lane.EffectivePrefetchCount;

    public bool ConfigureConsumeTopology => false;

    public string GetEndpointName(IEndpointNameFormatter formatter) => lane.LaneName;

    public void Configure<T>(T configurator, IRegistrationContext? registration = null)
        where T : IReceiveEndpointConfigurator
    {
        // Before the queue's callbacks run on the lane: a pattern among them that would take the concurrency over steps aside.
        EndpointClaims.Reserve(configurator, EndpointTakeover.Concurrency);
        queue.Configure(configurator, registration ?? context);
    }
}
