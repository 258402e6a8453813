using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Health;

/// <summary>The workflow messages waiting for a person: how many, and how long the oldest has waited, against their thresholds.</summary>
sealed class WorkflowHealthCheck(IServiceProvider services, PatternsHealthCheckOptions options) : IHealthCheck
{
    const string AwaitingPerson = "AwaitingPerson";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<IWorkflowMessageStore>() is not { } store)
            return HealthFindings.NotChecked("IWorkflowMessageStore (the workflow event processor's store)");
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var (waiting, failure) = await BoundedRead.RunAsync(ct => ReadAsync(store, ct), options.ReadTimeout, time, cancellationToken).ConfigureAwait(false);
        var findings = new HealthFindings();
        if (waiting is null)
        {
            findings.Data("error", failure!);
            findings.Problem(options.ReadFailureStatus, $"The workflow store could not be read: {failure}.");
            return findings.Result("");
        }

        findings.Data("awaitingPerson", waiting.Count);
        if (HealthFindings.Against(waiting.Count, options.AwaitingPersonDegraded, options.AwaitingPersonUnhealthy) is { } count)
            findings.Problem(count, $"{waiting.Count} workflow message(s) wait for a person ("
                + $"{HealthFindings.Threshold(count, options.AwaitingPersonDegraded, options.AwaitingPersonUnhealthy)}).");
        if (waiting.Oldest is { } oldest)
        {
            var age = time.GetUtcNow() - oldest.ReceivedAt;
            findings.Data("oldestId", oldest.CorrelationId.ToString());
            findings.Data("oldestReceivedAt", oldest.ReceivedAt.ToString("O"));
            findings.Data("oldestAgeSeconds", Math.Max(0, age.TotalSeconds));
            if (HealthFindings.Against(age.Ticks, options.AwaitingPersonAgeDegraded.Ticks, options.AwaitingPersonAgeUnhealthy.Ticks) is { } wait)
                findings.Problem(wait, $"The oldest workflow message waiting for a person ({oldest.CorrelationId}, {oldest.MessageType}) was received {age} ago ("
                    + $"{HealthFindings.Threshold(wait, options.AwaitingPersonAgeDegraded, options.AwaitingPersonAgeUnhealthy)}).");
        }
        return findings.Result("No workflow message waits for a person beyond the thresholds.");
    }

    static async Task<Waiting> ReadAsync(IWorkflowMessageStore store, CancellationToken cancellationToken)
    {
        var counts = await store.CountByStateAsync(cancellationToken).ConfigureAwait(false);
        var count = counts.TryGetValue(AwaitingPerson, out var n) ? n : 0;
        if (count == 0)
            return new Waiting(0, null);
        var page = await store.ListAsync(new WorkflowMessageQuery
        {
            Filter = new WorkflowMessageFilter { State = AwaitingPerson },
            Sort = WorkflowMessageSort.ReceivedAt,
            Descending = false,
            PageSize = 1
        }, cancellationToken).ConfigureAwait(false);
        return new Waiting(count, page.Items.FirstOrDefault());
    }

    sealed record Waiting(long Count, WorkflowMessageSummary? Oldest);
}
