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
sealed partial class WorkflowEventFilter(WorkflowEventOptions options, ILogger logger, WorkflowHoldRegistry? holds, WorkflowMetrics metrics) : IFilter<ConsumeContext>
{
    /// <summary>The consumer type a handed-off message is reported consumed by (receive observers, MassTransit's debug log).</summary>
    internal const string HandOffConsumerType = "WorkflowEvent.HandOff";

    /// <summary>The consumer type a held message is reported consumed by.</summary>
    internal const string HoldConsumerType = "WorkflowEvent.Hold";

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
        if (holds is not null && options.HoldsByKey && options.KeyOf(context) is { } keyed)
        {
            key = keyed.Key;
            queue = AddressNames.EntityName(context.ReceiveContext.InputAddress) ?? "";
            if (!holds.Ready.IsCompleted)
                await holds.Ready.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            var messageId = context.MessageId ?? context.ReceiveContext.GetMessageId() ?? NewId.NextGuid();
            if (holds.TryHoldBehind(queue, key, messageId, leader => IsLeaderOrReleasedBy(context, leader), out var leader, out var sequence))
            {
                // Failing here takes the normal error path: the message is not lost (its place in order is).
                await HoldAsync(context, leader, key, queue, messageId, sequence).ConfigureAwait(false);
                // Held, so consumed here: otherwise MassTransit would also move it to _skipped (a receive that
                // ends neither consumed nor faulted is dead-lettered).
                await keyed.NotifyConsumed(context.ReceiveContext.ElapsedTime, HoldConsumerType).ConfigureAwait(false);
                // The last of a release held behind another leader: its own leader may send back what it held meanwhile.
                if (LastOfRelease(context) is { } releasedBy)
                    await DrainedAsync(context, releasedBy, messageId).ConfigureAwait(false);
                return;
            }
        }

        try
        {
            await ConsumeAsync(context, next, key, queue).ConfigureAwait(false);
        }
        finally
        {
            // The last message of a release came back (consumed, handed off or failed): the key is freed here unless a
            // later message was held behind the leader meanwhile, and the processor sends back what it holds since.
            if (key is not null && !context.CancellationToken.IsCancellationRequested && LastOfRelease(context) is { } releasedBy)
                await ReleaseDrainedAsync(context, queue!, key, releasedBy).ConfigureAwait(false);
        }
    }

    async Task ConsumeAsync(ConsumeContext context, IPipe<ConsumeContext> next, string? key, string? queue)
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
            if (await HandOffAsync(context, scope.ConsumerFailure(thrown), key).ConfigureAwait(false) is { } report)
            {
                // The hand-off is confirmed: the original counts as consumed (by the hand-off), as MassTransit's
                // redelivery filter does once a redelivery is scheduled; its faults are dropped.
                await scope.NotifyHandedOff(report, HandOffConsumerType).ConfigureAwait(false);
                if (key is not null)
                    await HoldKeyAsync(context, queue!, key, report.CorrelationId).ConfigureAwait(false);
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
        if (WorkflowHeaders.TryGetLineage(context, out var originalId, out var attempt))
            await ReportProcessedAsync(context, originalId, attempt).ConfigureAwait(false);
    }

    static bool IsLeaderOrReleasedBy(ConsumeContext context, Guid leader)
    {
        if (WorkflowHeaders.TryGetLineage(context, out var originalId, out _) && originalId == leader)
            return true;
        return context.ReceiveContext.TransportHeaders.TryGetHeader(WorkflowHeaders.ReleasedBy, out var releasedBy)
            && Guid.TryParse(releasedBy?.ToString(), out var releaser) && releaser == leader;
    }

    /// <summary>The leader that released this message, when it is the last of its release.</summary>
    static Guid? LastOfRelease(ConsumeContext context)
    {
        var headers = context.ReceiveContext.TransportHeaders;
        return headers.TryGetHeader(WorkflowHeaders.ReleaseLast, out var last) && last is not null
               && headers.TryGetHeader(WorkflowHeaders.ReleasedBy, out var releasedBy) && Guid.TryParse(releasedBy?.ToString(), out var leader)
            ? leader
            : null;
    }

    async Task ReleaseDrainedAsync(ConsumeContext context, string queue, string key, Guid leader)
    {
        var messageId = context.MessageId ?? context.ReceiveContext.GetMessageId();
        if (messageId is null)
            return;
        if (holds!.ReleaseIfDrained(queue, key, leader, messageId))
            try
            {
                var publish = await context.ReceiveContext.PublishEndpointProvider.GetPublishSendEndpoint<WorkflowKeyReleased>().ConfigureAwait(false);
                await publish.Send(new WorkflowKeyReleased { Queue = queue, Key = key, LeaderId = leader, IfDrained = true, LastReleasedId = messageId },
                    CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogReleaseAnnounceFailed(logger, e, key, queue);
            }
        await DrainedAsync(context, leader, messageId.Value).ConfigureAwait(false);
    }

    async Task DrainedAsync(ConsumeContext context, Guid leader, Guid messageId)
    {
        try
        {
            var endpoint = await context.ReceiveContext.SendEndpointProvider.GetSendEndpoint(options.RepairAddress).ConfigureAwait(false);
            await endpoint.Send(new WorkflowReleaseDrained { CorrelationId = leader, MessageId = messageId }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The messages held meanwhile stay in the leader's workflow until this report reaches the processor.
            LogDrainedReportFailed(logger, e, leader, messageId);
        }
    }

    async Task HoldAsync(ConsumeContext context, Guid leader, string key, string queue, Guid messageId, long sequence)
    {
        var receive = context.ReceiveContext;
        var endpoint = await receive.SendEndpointProvider.GetSendEndpoint(options.RepairAddress).ConfigureAwait(false);
        await endpoint.Send(new WorkflowMessageHeld
        {
            CorrelationId = leader,
            MessageId = messageId,
            Key = key,
            Sequence = sequence,
            SourceAddress = receive.InputAddress,
            ContentType = receive.ContentType?.ToString(),
            Body = receive.Body.GetBytes(),
            Headers = WorkflowReports.ReadHeaders(receive.TransportHeaders)
        }, context.CancellationToken).ConfigureAwait(false);
        metrics.Held(queue);
    }

    async Task HoldKeyAsync(ConsumeContext context, string queue, string key, Guid leader)
    {
        holds!.Hold(queue, key, leader);
        try
        {
            // Other instances of this endpoint hold the key too (best effort: until they hear of it they do not).
            var publish = await context.ReceiveContext.PublishEndpointProvider.GetPublishSendEndpoint<WorkflowKeyHeld>().ConfigureAwait(false);
            await publish.Send(new WorkflowKeyHeld { Queue = queue, Key = key, LeaderId = leader }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogHoldAnnounceFailed(logger, e, key, queue);
        }
    }

    async Task<WorkflowFailureReported?> HandOffAsync(ConsumeContext context, Exception exception, string? key)
    {
        var queue = AddressNames.EntityName(context.ReceiveContext.InputAddress);
        try
        {
            var report = WorkflowReports.FromConsume(context, exception, options) with { HoldKey = key };
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

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning,
        Message = "Workflow event: key {Key} of {Queue} is free here, but telling the other instances failed")]
    static partial void LogReleaseAnnounceFailed(ILogger logger, Exception exception, string key, string queue);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning,
        Message = "Workflow event: the release of workflow {LeaderId} came back, but telling the workflow processor failed; the messages held behind it meanwhile stay in its workflow until a WorkflowReleaseDrained for {LeaderId} and message {MessageId} reaches the processor")]
    static partial void LogDrainedReportFailed(ILogger logger, Exception exception, Guid leaderId, Guid messageId);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "Workflow event: key {Key} of {Queue} is held here, but telling the other instances failed")]
    static partial void LogHoldAnnounceFailed(ILogger logger, Exception exception, string key, string queue);

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
    readonly List<PendingFault> _pending = [];

    /// <summary>A consumer's fault held back: how to report it, or to report its message consumed instead.</summary>
    sealed record PendingFault(Exception Exception, Func<Task> NotifyFaulted, Func<TimeSpan, string, Task> NotifyConsumed);

    public override Task NotifyFaulted<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
    {
        lock (_pending)
            _pending.Add(new PendingFault(exception,
                () => _context.NotifyFaulted(context, duration, consumerType, exception),
                (elapsed, handOff) => _context.NotifyConsumed(context, elapsed, handOff)));
        return Task.CompletedTask;
    }

    /// <summary>
    /// The failure to classify: what the consumer threw. MassTransit's consumer filters replace a cancellation
    /// exception thrown while the consume context's token is not cancelled (HttpClient's timeout) with a
    /// <see cref="ConsumerCanceledException"/> without inner exception; the consumer's own exception is the one
    /// they reported as its fault.
    /// </summary>
    public Exception ConsumerFailure(Exception thrown)
    {
        if (thrown is not ConsumerCanceledException)
            return thrown;
        lock (_pending)
            return _pending.LastOrDefault(p => p.Exception is OperationCanceledException || p.Exception.GetBaseException() is OperationCanceledException)?.Exception
                ?? thrown;
    }

    public async Task NotifyPendingFaults()
    {
        foreach (var pending in TakePending())
            await pending.NotifyFaulted().ConfigureAwait(false);
    }

    /// <summary>
    /// The message was handed off: reports it consumed (once, by <paramref name="consumerType"/>) and drops the
    /// faults held back. The consumer's typed context is used when a consumer reported the failure; a failure
    /// before any consumer (a body that does not deserialize to the message type) is reported as the hand-off's report.
    /// </summary>
    public Task NotifyHandedOff(WorkflowFailureReported report, string consumerType)
    {
        var elapsed = _context.ReceiveContext.ElapsedTime;
        return TakePending() is [var first, ..]
            ? first.NotifyConsumed(elapsed, consumerType)
            : _context.NotifyConsumed(new MessageConsumeContext<WorkflowFailureReported>(_context, report), elapsed, consumerType);
    }

    PendingFault[] TakePending()
    {
        lock (_pending)
        {
            PendingFault[] pending = [.. _pending];
            _pending.Clear();
            return pending;
        }
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

    internal static Dictionary<string, string> ReadHeaders(Headers headers)
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
