using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Health;

/// <summary>The queue depth monitor's latest reading of each polled queue: failed readings in a row, or a stale reading.</summary>
sealed class QueueDepthHealthCheck(IServiceProvider services, PatternsHealthCheckOptions options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<IQueueDepthMonitor>() is not { } monitor)
            return Task.FromResult(HealthFindings.NotChecked("IQueueDepthMonitor (AddQueueDepthMonitor)"));
        var now = (services.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow();
        var findings = new HealthFindings();
        var queues = monitor.Queues.Order(StringComparer.Ordinal).ToArray();
        findings.Data("queues", queues.Length);
        foreach (var queue in queues)
        {
            if (monitor.GetLatest(queue) is not { } reading)
            {
                findings.Data(queue, "not read yet");
                continue;
            }
            if (reading is { Succeeded: false, Failure: { } failure })
            {
                findings.Data(queue, $"{reading.ConsecutiveFailures} failed reading(s) in a row ({failure.Failure}) at {reading.At:O}");
                if (HealthFindings.Against(reading.ConsecutiveFailures, options.QueueDepthFailuresDegraded, options.QueueDepthFailuresUnhealthy) is { } status)
                    findings.Problem(status, $"Queue '{queue}': {reading.ConsecutiveFailures} depth reading(s) in a row failed ("
                        + $"{HealthFindings.Threshold(status, options.QueueDepthFailuresDegraded, options.QueueDepthFailuresUnhealthy)}): {failure.Message}");
            }
            else
                findings.Data(queue, $"{reading.Sample!.Value.Ready} ready at {reading.At:O}");

            var age = now - reading.At;
            if (age > options.QueueDepthStaleAfter)
                findings.Problem(HealthStatus.Degraded,
                    $"Queue '{queue}': the latest depth reading is {age} old (stale after {options.QueueDepthStaleAfter}): the monitor no longer reads it.");
        }
        return Task.FromResult(findings.Result($"{queues.Length} watched queue(s) read."));
    }
}
