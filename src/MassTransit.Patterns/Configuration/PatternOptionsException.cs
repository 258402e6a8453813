namespace MassTransit.Patterns.Configuration;

/// <summary>
/// Thrown at start-up when a pattern's options are invalid. The message names every bad option as
/// <c>OptionsType.Property</c>, with the value given and what is expected of it.
/// </summary>
public sealed class PatternOptionsException : ConfigurationException
{
    /// <summary>Creates the exception for the failures found in one options object.</summary>
    public PatternOptionsException(string optionsName, IReadOnlyList<OptionFailure> failures)
        : base(FormatMessage(optionsName, failures))
    {
        OptionsName = optionsName;
        Failures = failures;
    }

    /// <summary>The options type or section that failed, e.g. <c>QueueDepthPollingOptions</c>.</summary>
    public string OptionsName { get; }

    /// <summary>Each failing option, in the order found.</summary>
    public IReadOnlyList<OptionFailure> Failures { get; }

    static string FormatMessage(string optionsName, IReadOnlyList<OptionFailure> failures) =>
        $"Invalid {optionsName}: " + string.Join("; ", failures.Select(f => f.ToString()));
}
