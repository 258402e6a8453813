using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

// In namespace MassTransit (internal), so every package of ours finds it without a using, wherever its AddXxx lives.
namespace MassTransit;

/// <summary>Registers a pattern's options with their validation at host start (used by every <c>AddXxx</c> of ours).</summary>
static class PatternOptionsServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="TOptions"/> with its <see cref="IPatternOptions.Validate"/>
    /// run when the host starts, so a bad value fails start-up naming the option.
    /// </summary>
    public static OptionsBuilder<TOptions> AddPatternOptions<TOptions>(this IServiceCollection services, Action<TOptions>? configure = null, string? name = null)
        where TOptions : class, IPatternOptions
    {
        var builder = services.AddOptions<TOptions>(name ?? Options.DefaultName);
        if (configure is not null)
            builder.Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, PatternOptionsValidation<TOptions>>());
        builder.ValidateOnStart();
        return builder;
    }
}
