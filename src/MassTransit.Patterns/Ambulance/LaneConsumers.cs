using MassTransit.Configuration;

namespace MassTransit.Patterns.Ambulance;

/// <summary>What <c>ConfigureEndpoints</c> puts on a lane's queue endpoint, which the lane endpoint gets too.</summary>
sealed record LaneConsumers(List<IConsumerRegistration> Consumers, List<ISagaRegistration> Sagas, IEndpointDefinition? Definition);
