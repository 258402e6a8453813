using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.Configuration;

/// <summary>
/// Options of a pattern or shared component: they carry their defaults and validate themselves, so a
/// bad value fails start-up with a message that names it.
/// </summary>
public interface IPatternOptions
{
    /// <summary>Adds a failure to <paramref name="validator"/> for each invalid option.</summary>
    void Validate(OptionsValidator validator);
}

/// <summary>Extensions that run <see cref="IPatternOptions.Validate"/>.</summary>
public static class PatternOptionsExtensions
{
    /// <summary>Validates the options and throws <see cref="PatternOptionsException"/> naming each bad option.</summary>
    public static TOptions EnsureValid<TOptions>(this TOptions options, string? name = null)
        where TOptions : IPatternOptions
    {
        var validator = options.CreateValidator(name);
        validator.ThrowIfInvalid();
        return options;
    }

    /// <summary>Validates the options and returns the validator holding any failures.</summary>
    public static OptionsValidator CreateValidator<TOptions>(this TOptions options, string? name = null)
        where TOptions : IPatternOptions
    {
        var validator = new OptionsValidator(name ?? options.GetType().Name);
        options.Validate(validator);
        return validator;
    }
}

/// <summary>
/// Plugs <see cref="IPatternOptions.Validate"/> into Microsoft.Extensions.Options, so that
/// <c>ValidateOnStart</c> fails the host's start with the option named.
/// </summary>
public sealed class PatternOptionsValidation<TOptions> : IValidateOptions<TOptions>
    where TOptions : class, IPatternOptions
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var optionsName = string.IsNullOrEmpty(name) ? typeof(TOptions).Name : $"{typeof(TOptions).Name}[{name}]";
        return options.CreateValidator(optionsName).ToValidateOptionsResult();
    }
}
