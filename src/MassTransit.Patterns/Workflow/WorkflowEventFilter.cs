using MassTransit.Context;
using MassTransit.Patterns.Addressing;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The consume filter of the workflow event: a delegated failure is handed to the workflow processor
/// (body, headers, source, exception, attempt) and the original is acknowledged, so the endpoint
/// moves on; a failed hand-off, or a failure not delegated, takes MassTransit's normal error path.
/// A resubmitted copy processed successfully is reported to the processor.
/// </summary>
sealed partial class WorkflowEventFilter(WorkflowEventOptions options, ILogger logger) : IFilter<ConsumeContext>
{
    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("workflowEvent");
        scope.Add("repairAddress", options.RepairAddress.ToString());
        scope.Add("retryLimit", options.RetryLimit);
        scope.Add("retryInterval", options.RetryInterval);
    }

    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        var scope = new FaultDeferringConsumeContext(context);
        try
        {
            for (var retry = 0;; retry++)
            {
                try
                {
                    await next.Send(scope).ConfigureAwait(false);
                    break;
                }
                catch (Exception exception) when (retry < options.RetryLimit && options.IsTransient(exception) && !context.CancellationToken.IsCancellationRequested)
                {
                    // Retried in place: this attempt's faults are not reported, the next attempt gets a fresh scope.
                    scope = new FaultDeferringConsumeContext(context);
                    await Task.Delay(options.RetryInterval, context.CancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception exception) when (options.Classify(exception) == WorkflowDecision.Delegate && !context.CancellationToken.IsCancellationRequested)
        {
            if (await HandOffAsync(context, exception).ConfigureAwait(false))
                return;
            await scope.NotifyPendingFaults().ConfigureAwait(false);
            throw;
        }
        catch
        {
            await scope.NotifyPendingFaults().ConfigureAwait(false);
            throw;
        }

        await scope.NotifyPendingFaults().ConfigureAwait(false);
        if (WorkflowHeaders.TryGetLineage(context, out var originalId, out var attempt))
            await ReportProcessedAsync(context, originalId, attempt).ConfigureAwait(false);
    }

    async Task<bool> HandOffAsync(ConsumeContext context, Exception exception)
    {
        var queue = AddressNames.EntityName(context.ReceiveContext.InputAddress);
        try
        {
            var report = WorkflowReports.FromConsume(context, exception, options);
            var endpoint = await context.ReceiveContext.SendEndpointProvider.GetSendEndpoint(options.RepairAddress).ConfigureAwait(false);
            await endpoint.Send(report, context.CancellationToken).ConfigureAwait(false);
            WorkflowMetrics.Delegated(queue);
            if (report.Malformed)
                WorkflowMetrics.Malformed(queue);
            return true;
        }
        catch (Exception handOff)
        {
            WorkflowMetrics.HandOffFailed(queue);
            LogHandOffFailed(logger, handOff, context.MessageId, queue);
            return false;
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

/// <summary>
/// Holds back the faults the consumers report (which would publish <c>Fault&lt;T&gt;</c>) until the
/// filter knows whether the failure is delegated: a delegated message has not faulted, it is being repaired.
/// </summary>
sealed class FaultDeferringConsumeContext(ConsumeContext context) : ConsumeContextScope(context)
{
    readonly ConsumeContext _context = context;
    readonly List<Func<Task>> _pending = [];

    public override Task NotifyFaulted<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
    {
        lock (_pending)
            _pending.Add(() => _context.NotifyFaulted(context, duration, consumerType, exception));
        return Task.CompletedTask;
    }

    public async Task NotifyPendingFaults()
    {
        Func<Task>[] pending;
        lock (_pending)
        {
            pending = [.. _pending];
            _pending.Clear();
        }
        foreach (var notify in pending)
            await notify().ConfigureAwait(false);
    }
}

/// <summary>Builds the failure reports the filters send.</summary>
static class WorkflowReports
{
    const int DetailLimit = 4_000;

    public static WorkflowFailureReported FromConsume(ConsumeContext context, Exception exception, WorkflowEventOptions options)
    {
        var lineage = WorkflowHeaders.TryGetLineage(context, out var originalId, out var attempt);
        var receive = context.ReceiveContext;
        return new WorkflowFailureReported
        {
            CorrelationId = lineage ? originalId : context.MessageId ?? receive.GetMessageId() ?? NewId.NextGuid(),
            MessageId = context.MessageId,
            Attempt = lineage ? attempt : 0,
            MessageTypes = [.. context.SupportedMessageTypes],
            SourceAddress = receive.InputAddress,
            ContentType = receive.ContentType?.ToString(),
            Body = receive.Body.GetBytes(),
            Headers = ReadHeaders(receive.TransportHeaders),
            ExceptionType = exception.GetType().FullName ?? exception.GetType().Name,
            ExceptionMessage = exception.Message,
            ExceptionDetail = Trim(exception.ToString()),
            Malformed = WorkflowEventOptions.IsDeserialization(exception),
            RetryCount = options.IsTransient(exception) ? options.RetryLimit : 0,
            MaxRepairAttempts = options.MaxRepairAttempts,
            FailedAt = DateTimeOffset.UtcNow
        };
    }

    public static WorkflowFailureReported FromReceive(ExceptionReceiveContext context, WorkflowEventOptions options)
    {
        var lineage = WorkflowHeaders.TryRead(context.TransportHeaders, out var originalId, out var attempt);
        var exception = context.Exception;
        return new WorkflowFailureReported
        {
            CorrelationId = lineage ? originalId : context.GetMessageId() ?? NewId.NextGuid(),
            MessageId = context.GetMessageId(),
            Attempt = lineage ? attempt : 0,
            MessageTypes = [],
            SourceAddress = context.InputAddress,
            ContentType = context.ContentType?.ToString(),
            Body = context.Body.GetBytes(),
            Headers = ReadHeaders(context.TransportHeaders),
            ExceptionType = exception.GetType().FullName ?? exception.GetType().Name,
            ExceptionMessage = exception.Message,
            ExceptionDetail = Trim(exception.ToString()),
            Malformed = true,
            MaxRepairAttempts = options.MaxRepairAttempts,
            FailedAt = DateTimeOffset.UtcNow
        };
    }

    static Dictionary<string, string> ReadHeaders(Headers headers)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in headers.GetAll())
            if (value is not null)
                result[key] = value switch
                {
                    byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
                    IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
                    _ => value.ToString() ?? ""
                };
        return result;
    }

    static string Trim(string text) => text.Length <= DetailLimit ? text : text[..DetailLimit];
}
