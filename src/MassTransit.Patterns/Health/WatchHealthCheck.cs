using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Health;

/// <summary>
/// The running watchers: a watcher whose registrations or renewals fail in a row (its source unreachable or not
/// answering within the registration timeout) is Degraded, then Unhealthy; one that its source refused is Unhealthy.
/// </summary>
sealed class WatchHealthCheck(IServiceProvider services, PatternsHealthCheckOptions options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var hubs = services.GetServices<IWatcherRenewals>().ToArray();
        if (hubs.Length == 0)
            return Task.FromResult(HealthFindings.NotChecked("IWatcherFactory<TValue> (AddWatcherFactory or AddWatcher)"));
        var findings = new HealthFindings();
        var watchers = hubs.SelectMany(h => h.Renewals).OrderBy(r => r.ValueType, StringComparer.Ordinal).ThenBy(r => r.WatcherId).ToArray();
        findings.Data("watchers", watchers.Length);
        foreach (var watcher in watchers)
        {
            var name = $"watcher {watcher.WatcherId} ({watcher.ValueType})";
            var source = watcher.SourceAddress?.ToString() ?? "its source (registration published)";
            var renewed = watcher.LastRenewedAt is { } at ? $"last renewed at {at:O}" : "never registered";
            if (watcher.ConsecutiveFailures == 0)
            {
                findings.Data(name, renewed);
                continue;
            }
            findings.Data(name, $"{watcher.ConsecutiveFailures} failure(s) in a row, the last at {watcher.LastFailedAt:O}: {watcher.LastFailure}; {renewed}");
            if (watcher.Rejected)
                findings.Problem(HealthStatus.Unhealthy, $"Watcher {watcher.WatcherId} of {watcher.ValueType}: {source} refused it ({watcher.LastFailure}); it stopped trying.");
            else if (HealthFindings.Against(watcher.ConsecutiveFailures, options.WatchFailuresDegraded, options.WatchFailuresUnhealthy) is { } status)
                findings.Problem(status, $"Watcher {watcher.WatcherId} of {watcher.ValueType}: {source} unreachable, {watcher.ConsecutiveFailures} registration(s) or renewal(s) "
                    + $"in a row failed ({HealthFindings.Threshold(status, options.WatchFailuresDegraded, options.WatchFailuresUnhealthy)}), "
                    + $"the last: {watcher.LastFailure}; {renewed}.");
        }
        return Task.FromResult(findings.Result($"{watchers.Length} watcher(s) renewing with their sources."));
    }
}
