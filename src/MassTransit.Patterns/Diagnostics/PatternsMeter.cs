using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit.Patterns.Diagnostics;

/// <summary>
/// The <c>MassTransit.Patterns</c> meter of one service provider, created by its
/// <see cref="IMeterFactory"/>: instruments live and die with the container that made them, and a
/// listener can tell two hosts in one process apart by <see cref="Meter.Scope"/> (the factory).
/// Every pattern's metrics class takes this from DI; nothing records on a process-wide static meter.
/// </summary>
internal sealed class PatternsMeter
{
    public PatternsMeter(IMeterFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Meter = factory.Create(new MeterOptions(PatternsDiagnostics.Name) { Version = PatternsDiagnostics.Version });
    }

    public Meter Meter { get; }

    /// <summary>
    /// Registers the meter (and <see cref="IMeterFactory"/> through <c>AddMetrics</c>, which a host
    /// already does and which only adds what is missing). Every <c>AddXxx</c>/<c>UseXxx</c> that records
    /// metrics calls this.
    /// </summary>
    public static IServiceCollection Register(IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<PatternsMeter>();
        return services;
    }

    /// <summary>
    /// A pattern's metrics of <paramref name="provider"/>'s container: the registered singleton when an <c>AddXxx</c>
    /// registered it, else new ones made by <paramref name="create"/> on the container's meter (see <see cref="From"/>).
    /// </summary>
    public static TMetrics Metrics<TMetrics>(IServiceProvider provider, Func<PatternsMeter, TMetrics> create)
        where TMetrics : class
    {
        ArgumentNullException.ThrowIfNull(provider);
        return provider.GetService<TMetrics>() ?? create(From(provider));
    }

    /// <summary>The meter of the registration context's container, or a clear error saying what to register.</summary>
    public static PatternsMeter From(IServiceProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        var factory = provider.GetService<IMeterFactory>() ?? throw new InvalidOperationException(
            "MassTransit.Patterns records its metrics on the container's IMeterFactory, and this container has none: "
            + "add services.AddMetrics() (a host built with Host.CreateApplicationBuilder already has it).");
        return provider.GetService<PatternsMeter>() ?? new PatternsMeter(factory);
    }
}
