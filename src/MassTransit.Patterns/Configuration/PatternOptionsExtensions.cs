namespace MassTransit.Patterns.Configuration;

/// <summary>Extensions that run <see cref="IPatternOptions.Validate"/>.</summary>
static class PatternOptionsExtensions
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
