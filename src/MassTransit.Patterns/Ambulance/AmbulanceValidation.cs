using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Ambulance;

/// <summary>Reports the options' failures, and lanes whose queue endpoint was never configured, when the bus is built.</summary>
sealed class AmbulanceValidation(IReadOnlyList<OptionFailure> failures, IReadOnlyList<LaneRegistration> lanes) : IPipeSpecification<ConsumeContext>
{
    public void Apply(IPipeBuilder<ConsumeContext> builder)
    {
    }

    public IEnumerable<ValidationResult> Validate()
    {
        foreach (var failure in failures)
            yield return new OptionValidationResult(failure.Option, failure.Message);
        if (failures.Count > 0)
            yield break;
        foreach (var lane in lanes.Where(l => !l.QueueEndpointSeen))
            yield return new OptionValidationResult($"AmbulanceLaneOptions[{lane.Options.QueueName}].QueueName",
                $"no receive endpoint '{lane.Options.QueueName}' was configured after UseAmbulanceLane: call UseAmbulanceLane before ConfigureEndpoints.");
    }
}
