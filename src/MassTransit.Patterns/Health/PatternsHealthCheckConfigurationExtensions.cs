using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Health;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit;

/// <summary>Adds the patterns' health checks to ASP.NET Core health checks.</summary>
public static class PatternsHealthCheckConfigurationExtensions
{
    /// <summary>
    /// Adds one health check per condition (<see cref="PatternsHealthCheckNames"/>), each tagged with
    /// <see cref="PatternsHealthCheckOptions.Tags"/>: a watched queue's depth probe failing, a broker of the multibroker
    /// out of rotation, an outbox backlog or oldest age over a threshold, workflow messages waiting for a person over a
    /// threshold, a watcher whose source is unreachable. Each reports Degraded or Unhealthy with the reason in its
    /// description and data, and Healthy when the condition clears. A component that is not registered is not checked
    /// (its check is Healthy and says so in its data). Invalid options throw <see cref="PatternOptionsException"/> here,
    /// naming the option and its value.
    /// </summary>
    public static IHealthChecksBuilder AddPatternsChecks(this IHealthChecksBuilder builder, Action<PatternsHealthCheckOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new PatternsHealthCheckOptions();
        configure?.Invoke(options);
        options.EnsureValid();
        string[] tags = [.. options.Tags];
        builder.Add(new HealthCheckRegistration(PatternsHealthCheckNames.QueueDepth, sp => new QueueDepthHealthCheck(sp, options), null, tags));
        builder.Add(new HealthCheckRegistration(PatternsHealthCheckNames.Multibroker, sp => new MultibrokerHealthCheck(sp, options), null, tags));
        builder.Add(new HealthCheckRegistration(PatternsHealthCheckNames.Outbox, sp => new OutboxHealthCheck(sp, options), null, tags));
        builder.Add(new HealthCheckRegistration(PatternsHealthCheckNames.Workflow, sp => new WorkflowHealthCheck(sp, options), null, tags));
        builder.Add(new HealthCheckRegistration(PatternsHealthCheckNames.Watch, sp => new WatchHealthCheck(sp, options), null, tags));
        return builder;
    }
}
