using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Hold by key at the endpoint (<see cref="WorkflowEventOptions.HoldByKey{T}"/>): a message whose key is held behind a
/// leader being repaired is sent to the processor instead of consumed; the key is held here and announced when a
/// failure of it is handed off, and freed when the leader's release has come back through the endpoint.
/// </summary>
sealed partial class WorkflowKeyHold(WorkflowHoldRegistry holds, WorkflowEventOptions options, ILogger logger, WorkflowMetrics metrics)
{
    /// <summary>
    /// Holds the message when a leader holds its key and it is neither that leader nor released by it; then it is
    /// reported consumed (by the hold) and true is returned.
    /// </summary>
    internal async Task<bool> TryHoldAsync(ConsumeContext context, KeyedMessage keyed, string queue)
    {
        if (!holds.Ready.IsCompleted)
            await holds.Ready.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        var messageId = context.MessageId ?? context.ReceiveContext.GetMessageId() ?? NewId.NextGuid();
        if (!holds.TryHoldBehind(queue, keyed.Key, messageId, leader => IsLeaderOrReleasedBy(context, leader), out var leader, out var sequence))
            return false;

        // Failing here takes the normal error path: the message is not lost (its place in order is).
        await HoldAsync(context, leader, keyed.Key, queue, messageId, sequence).ConfigureAwait(false);
        // Held, so consumed here: otherwise MassTransit would also move it to _skipped (a receive that
        // ends neither consumed nor faulted is dead-lettered).
        await keyed.NotifyConsumed(context.ReceiveContext.ElapsedTime, WorkflowEventFilter.HoldConsumerType).ConfigureAwait(false);
        // The last of a release held behind another leader: its own leader may send back what it held meanwhile.
        if (LastOfRelease(context) is { } releasedBy)
            await DrainedAsync(context, releasedBy, messageId).ConfigureAwait(false);
        return true;
    }

    static bool IsLeaderOrReleasedBy(ConsumeContext context, Guid leader)
    {
        if (WorkflowHeaders.TryGetLineage(context, out var originalId, out _) && originalId == leader)
            return true;
        return context.ReceiveContext.TransportHeaders.TryGetHeader(WorkflowHeaders.ReleasedBy, out var releasedBy)
            && Guid.TryParse(releasedBy?.ToString(), out var releaser) && releaser == leader;
    }

    /// <summary>The leader that released this message, when it is the last of its release.</summary>
    internal static Guid? LastOfRelease(ConsumeContext context)
    {
        var headers = context.ReceiveContext.TransportHeaders;
        return headers.TryGetHeader(WorkflowHeaders.ReleaseLast, out var last) && last is not null
               && headers.TryGetHeader(WorkflowHeaders.ReleasedBy, out var releasedBy) && Guid.TryParse(releasedBy?.ToString(), out var leader)
            ? leader
            : null;
    }

    internal async Task ReleaseDrainedAsync(ConsumeContext context, string queue, string key, Guid leader)
    {
        var messageId = context.MessageId ?? context.ReceiveContext.GetMessageId();
        if (messageId is null)
            return;
        if (holds.ReleaseIfDrained(queue, key, leader, messageId))
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

    internal async Task HoldKeyAsync(ConsumeContext context, string queue, string key, Guid leader)
    {
        holds.Hold(queue, key, leader);
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

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning,
        Message = "Workflow event: key {Key} of {Queue} is free here, but telling the other instances failed")]
    static partial void LogReleaseAnnounceFailed(ILogger logger, Exception exception, string key, string queue);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning,
        Message = "Workflow event: the release of workflow {LeaderId} came back, but telling the workflow processor failed; the messages held behind it meanwhile stay in its workflow until a WorkflowReleaseDrained for {LeaderId} and message {MessageId} reaches the processor")]
    static partial void LogDrainedReportFailed(ILogger logger, Exception exception, Guid leaderId, Guid messageId);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "Workflow event: key {Key} of {Queue} is held here, but telling the other instances failed")]
    static partial void LogHoldAnnounceFailed(ILogger logger, Exception exception, string key, string queue);
}
