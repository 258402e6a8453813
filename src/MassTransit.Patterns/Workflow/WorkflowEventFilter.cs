using System.Diagnostics;
using MassTransit.Patterns.Addressing;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The consume filter of the workflow event: a delegated failure is handed to the workflow processor
/// (body, headers, source, exception, attempt) and the original is acknowledged, so the endpoint
/// moves on; a failed hand-off, or a failure not delegated, takes MassTransit's normal error path.
/// A resubmitted copy processed successfully is reported to the processor.
/// </summary>
sealed partial class WorkflowEventFilter(WorkflowEventOptions options, ILogger logger, WorkflowHoldRegistry? holds, WorkflowMetrics metrics) : IFilter<ConsumeContext>
{
    /// <summary>The consumer type a handed-off message is reported consumed by (receive observers, MassTransit's debug log).</summary>
    internal const string HandOffConsumerType = "WorkflowEvent.HandOff";

    /// <summary>The consumer type a held message is reported consumed by.</summary>
    internal const string HoldConsumerType = "WorkflowEvent.Hold";

    readonly WorkflowKeyHold? _keyHold = holds is null ? null : new WorkflowKeyHold(holds, options, logger, metrics);

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("workflowEvent");
        scope.Add("repairAddress", options.RepairAddress.ToString());
        scope.Add("retryLimit", options.RetryLimit);
        scope.Add("retryInterval", options.RetryInterval);
    }

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        string? key = null;
        string? queue = null;
        if (_keyHold is not null && options.HoldsByKey && options.KeyOf(context) is { } keyed)
        {
            key = keyed.Key;
            queue = AddressNames.EntityName(context.ReceiveContext.InputAddress) ?? "";
            if (await _keyHold.TryHoldAsync(context, keyed, queue).ConfigureAwait(false))
                return;
        }

        try
        {
            await ConsumeAsync(context, next, key, queue).ConfigureAwait(false);
        }
        finally
        {
            // The last message of a release came back (consumed, handed off or failed): the key is freed here unless a
            // later message was held behind the leader meanwhile, and the processor sends back what it holds since.
            if (key is not null && !context.CancellationToken.IsCancellationRequested && WorkflowKeyHold.LastOfRelease(context) is { } releasedBy)
                await _keyHold!.ReleaseDrainedAsync(context, queue!, key, releasedBy).ConfigureAwait(false);
        }
    }

    async Task ConsumeAsync(ConsumeContext context, IPipe<ConsumeContext> next, string? key, string? queue)
    {
        // This delivery's consume: MassTransit's receive activity (none without a listener). A failure report records it;
        // a resubmitted copy's is linked to the failed attempt and the repair.
        var consume = WorkflowTelemetry.Consume();
        var lineage = WorkflowHeaders.TryGetLineage(context, out var originalId, out var attempt);
        if (lineage && consume is not null)
            WorkflowTelemetry.LinkResubmitted(context, consume, originalId, attempt);

        var scope = new FaultDeferringConsumeContext(context);
        try
        {
            for (var retry = 0; ; retry++)
            {
                try
                {
                    await next.Send(scope).ConfigureAwait(false);
                    break;
                }
                catch (Exception exception) when (retry < options.RetryLimit && options.IsTransient(scope.ConsumerFailure(exception))
                                                  && !context.CancellationToken.IsCancellationRequested)
                {
                    // Retried in place: this attempt's faults are not reported, the next attempt gets a fresh scope.
                    scope = new FaultDeferringConsumeContext(context);
                    await Task.Delay(options.RetryInterval, context.CancellationToken).ConfigureAwait(false);
                }
            }
        }
        // Only a shutdown (this context's token cancelled) bypasses the pattern: a cancellation exception while
        // nothing is stopping (HttpClient's timeout) is classified like any other failure.
        catch (Exception thrown) when (!context.CancellationToken.IsCancellationRequested
                                       && options.Classify(scope.ConsumerFailure(thrown)) == WorkflowDecision.Delegate)
        {
            if (await HandOffAsync(context, scope.ConsumerFailure(thrown), key, consume).ConfigureAwait(false) is { } report)
            {
                // The hand-off is confirmed: the original counts as consumed (by the hand-off), as MassTransit's
                // redelivery filter does once a redelivery is scheduled; its faults are dropped.
                await scope.NotifyHandedOff(report, HandOffConsumerType).ConfigureAwait(false);
                if (key is not null)
                    await _keyHold!.HoldKeyAsync(context, queue!, key, report.CorrelationId).ConfigureAwait(false);
                return;
            }
            await scope.NotifyPendingFaults().ConfigureAwait(false);
            throw;
        }
        catch
        {
            await scope.NotifyPendingFaults().ConfigureAwait(false);
            throw;
        }

        await scope.NotifyPendingFaults().ConfigureAwait(false);
        if (lineage)
            await ReportProcessedAsync(context, originalId, attempt).ConfigureAwait(false);
    }

    async Task<WorkflowFailureReported?> HandOffAsync(ConsumeContext context, Exception exception, string? key, Activity? consume)
    {
        var queue = AddressNames.EntityName(context.ReceiveContext.InputAddress);
        try
        {
            var report = WorkflowReports.FromConsume(context, exception, options, consume) with { HoldKey = key };
            var endpoint = await context.ReceiveContext.SendEndpointProvider.GetSendEndpoint(options.RepairAddress).ConfigureAwait(false);
            await endpoint.Send(report, context.CancellationToken).ConfigureAwait(false);
            metrics.Delegated(queue);
            if (report.Malformed)
                metrics.Malformed(queue);
            return report;
        }
        catch (Exception handOff)
        {
            metrics.HandOffFailed(queue);
            LogHandOffFailed(logger, handOff, context.MessageId, queue);
            return null;
        }
    }

    async Task ReportProcessedAsync(ConsumeContext context, Guid originalId, int attempt)
    {
        try
        {
            var endpoint = await context.ReceiveContext.SendEndpointProvider.GetSendEndpoint(options.RepairAddress).ConfigureAwait(false);
            await endpoint.Send(new WorkflowMessageProcessed
            {
                CorrelationId = originalId,
                Attempt = attempt,
                InputAddress = context.ReceiveContext.InputAddress,
                ProcessedAt = DateTimeOffset.UtcNow
            }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The message was processed; reprocessing it to repeat the report would do its work twice.
            LogProcessedReportFailed(logger, e, originalId, attempt);
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error,
        Message = "Workflow event: handing message {MessageId} from {Queue} to the workflow processor failed; it takes the normal error path")]
    static partial void LogHandOffFailed(ILogger logger, Exception exception, Guid? messageId, string? queue);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning,
        Message = "Workflow event: resubmitted message {OriginalMessageId} (attempt {Attempt}) was processed, but telling the workflow processor failed; its workflow stays Resubmitted")]
    static partial void LogProcessedReportFailed(ILogger logger, Exception exception, Guid originalMessageId, int attempt);
}
