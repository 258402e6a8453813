using MassTransit.Patterns.EventForwarding;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Health;

/// <summary>Each registered outbox's backlog: undelivered rows and the oldest one's age against their thresholds; a read that fails or does not answer in time.</summary>
sealed class OutboxHealthCheck(IServiceProvider services, PatternsHealthCheckOptions options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var backlogs = services.GetServices<IOutboxBacklog>().ToArray();
        if (backlogs.Length == 0)
            return HealthFindings.NotChecked("IOutboxBacklog (an outbox that reports its backlog)");
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var reads = await Task.WhenAll(backlogs.Select(b => BoundedRead.RunAsync(b.ReadAsync, options.ReadTimeout, time, cancellationToken)))
            .ConfigureAwait(false);
        var findings = new HealthFindings();
        for (var i = 0; i < backlogs.Length; i++)
        {
            var name = backlogs[i].Name;
            var (reading, failure) = reads[i];
            if (reading is null)
            {
                findings.Data($"{name}.error", failure!);
                findings.Problem(options.ReadFailureStatus, $"Outbox '{name}': its backlog could not be read: {failure}.");
                continue;
            }
            findings.Data($"{name}.pending", reading.Pending);
            findings.Data($"{name}.oldestAgeSeconds", reading.OldestAge.TotalSeconds);
            if (HealthFindings.Against(reading.Pending, options.OutboxBacklogDegraded, options.OutboxBacklogUnhealthy) is { } backlog)
                findings.Problem(backlog, $"Outbox '{name}': {reading.Pending} messages not delivered yet ("
                    + $"{HealthFindings.Threshold(backlog, options.OutboxBacklogDegraded, options.OutboxBacklogUnhealthy)}).");
            if (HealthFindings.Against(reading.OldestAge.Ticks, options.OutboxOldestAgeDegraded.Ticks, options.OutboxOldestAgeUnhealthy.Ticks) is { } age)
                findings.Problem(age, $"Outbox '{name}': the oldest undelivered message has waited {reading.OldestAge} ("
                    + $"{HealthFindings.Threshold(age, options.OutboxOldestAgeDegraded, options.OutboxOldestAgeUnhealthy)}).");
        }
        return findings.Result($"{backlogs.Length} outbox(es) within their thresholds.");
    }
}
