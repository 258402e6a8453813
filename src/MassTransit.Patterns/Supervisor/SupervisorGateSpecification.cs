using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Supervisor;

/// <summary>Validates the supervisor's options with the endpoint's configuration and adds its gate.</summary>
sealed class SupervisorGateSpecification(OptionsValidator validator, ElasticConcurrencyLimit? gate) : IPipeSpecification<ReceiveContext>
{
    public void Apply(IPipeBuilder<ReceiveContext> builder) =>
        builder.AddFilter(new SupervisorGateFilter(gate ?? throw new ConfigurationException("The supervisor was not created: its options are invalid.")));

    public IEnumerable<ValidationResult> Validate() => validator.ToValidationResults();
}
