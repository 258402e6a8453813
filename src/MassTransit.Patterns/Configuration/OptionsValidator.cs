using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.Configuration;

/// <summary>
/// Collects the failures of one options object with checks that name the option and the value, so
/// that every pattern reports a bad knob the same way: through MassTransit's specification
/// validation, through <see cref="IValidateOptions{TOptions}"/> at host start, or by throwing.
/// </summary>
public sealed class OptionsValidator
{
    readonly List<OptionFailure> _failures = [];

    /// <summary>Starts validating the options called <paramref name="optionsName"/>.</summary>
    public OptionsValidator(string optionsName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(optionsName);
        OptionsName = optionsName;
    }

    /// <summary>The options' name, used as the prefix of each option name.</summary>
    public string OptionsName { get; }

    /// <summary>The failures found so far.</summary>
    public IReadOnlyList<OptionFailure> Failures => _failures;

    /// <summary>True when no check has failed.</summary>
    public bool IsValid => _failures.Count == 0;

    /// <summary>Records a failure of <paramref name="option"/> unless <paramref name="condition"/> holds.</summary>
    public OptionsValidator Require(bool condition, string option, string message)
    {
        if (!condition)
            _failures.Add(new OptionFailure($"{OptionsName}.{option}", message));
        return this;
    }

    /// <summary>The time span must be strictly positive (and not infinite).</summary>
    public OptionsValidator Positive(TimeSpan value, string option) =>
        Require(value > TimeSpan.Zero && value != Timeout.InfiniteTimeSpan, option, $"must be greater than zero (was {value}).");

    /// <summary>The time span must be zero or positive.</summary>
    public OptionsValidator NotNegative(TimeSpan value, string option) =>
        Require(value >= TimeSpan.Zero, option, $"must not be negative (was {value}).");

    /// <summary>The number must be strictly positive.</summary>
    public OptionsValidator Positive(long value, string option) =>
        Require(value > 0, option, $"must be greater than zero (was {value}).");

    /// <summary>The number must be zero or positive.</summary>
    public OptionsValidator NotNegative(long value, string option) =>
        Require(value >= 0, option, $"must not be negative (was {value}).");

    /// <summary>The number must be strictly positive and finite.</summary>
    public OptionsValidator Positive(double value, string option) =>
        Require(value > 0 && double.IsFinite(value), option, $"must be greater than zero (was {value}).");

    /// <summary>The number must lie in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public OptionsValidator InRange(long value, long min, long max, string option) =>
        Require(value >= min && value <= max, option, $"must be between {min} and {max} (was {value}).");

    /// <summary>The string must not be null, empty or white space.</summary>
    public OptionsValidator NotEmpty(string? value, string option) =>
        Require(!string.IsNullOrWhiteSpace(value), option, "must not be empty.");

    /// <summary>The value must not be null.</summary>
    public OptionsValidator NotNull(object? value, string option) =>
        Require(value is not null, option, "must be set.");

    /// <summary>Throws <see cref="PatternOptionsException"/> when any check failed.</summary>
    public void ThrowIfInvalid()
    {
        if (!IsValid)
            throw new PatternOptionsException(OptionsName, _failures.ToArray());
    }

    /// <summary>The failures as MassTransit validation results, for a pipe or endpoint specification.</summary>
    public IEnumerable<ValidationResult> ToValidationResults() =>
        _failures.Select(f => (ValidationResult)new OptionValidationResult(f.Option, f.Message));

    /// <summary>The failures as an options validation result, for <see cref="IValidateOptions{TOptions}"/>.</summary>
    public ValidateOptionsResult ToValidateOptionsResult() =>
        IsValid ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(_failures.Select(f => f.ToString()));
}
