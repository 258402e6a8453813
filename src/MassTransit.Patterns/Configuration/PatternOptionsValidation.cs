using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.Configuration;

/// <summary>
/// Plugs <see cref="IPatternOptions.Validate"/> into Microsoft.Extensions.Options, so that
/// <c>ValidateOnStart</c> fails the host's start with the option named.
/// </summary>
sealed class PatternOptionsValidation<TOptions> : IValidateOptions<TOptions>
    where TOptions : class, IPatternOptions
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var optionsName = string.IsNullOrEmpty(name) ? typeof(TOptions).Name : $"{typeof(TOptions).Name}[{name}]";
        return options.CreateValidator(optionsName).ToValidateOptionsResult();
    }
}
