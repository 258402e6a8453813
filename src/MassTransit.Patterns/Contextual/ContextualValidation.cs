using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Contextual;

/// <summary>Reports the options' failures when the bus is built.</summary>
sealed class ContextualValidation(IReadOnlyList<OptionFailure> failures) : IPipeSpecification<ConsumeContext>
{
    public void Apply(IPipeBuilder<ConsumeContext> builder)
    {
    }

    public IEnumerable<ValidationResult> Validate() => failures.Select(f => (ValidationResult)new OptionValidationResult(f.Option, f.Message));
}
