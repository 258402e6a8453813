using MassTransit.Patterns.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Tests.Health;

/// <summary>
/// A container with <c>AddHealthChecks().AddPatternsChecks()</c> and the components a test registers (its own, or the
/// live ones of a running rig), whose checks run through <see cref="HealthCheckService"/> as the health endpoint runs them.
/// </summary>
sealed class HealthRig : IAsyncDisposable
{
    readonly ServiceProvider _provider;

    HealthRig(ServiceProvider provider) => _provider = provider;

    public IServiceProvider Services => _provider;

    public static HealthRig Build(Action<IServiceCollection>? register = null, Action<PatternsHealthCheckOptions>? configure = null)
    {
        var services = new ServiceCollection().AddLogging();
        register?.Invoke(services);
        services.AddHealthChecks().AddPatternsChecks(configure);
        return new HealthRig(services.BuildServiceProvider(true));
    }

    /// <summary>Runs the check called <paramref name="name"/> (only it) and returns its entry.</summary>
    public async Task<HealthReportEntry> CheckAsync(string name)
    {
        var report = await _provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == name, TestContext.Current.CancellationToken);
        return Assert.Single(report.Entries, e => e.Key == name).Value;
    }

    /// <summary>Runs every check tagged <paramref name="tag"/>.</summary>
    public Task<HealthReport> CheckTaggedAsync(string tag) =>
        _provider.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains(tag), TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => _provider.DisposeAsync();
}
