using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The batched inbox's log events (category <see cref="Category"/>). Message ids are one string,
/// comma-separated, in the order the members ran.
/// </summary>
static partial class ForwardingBatchLog
{
    public const string Category = "MassTransit.Patterns.EventForwarding.Batching";

    [LoggerMessage(EventId = 4130, Level = LogLevel.Debug, Message = "Batch {BatchId} of {DbContext}: {Count} members claimed, running: {MessageIds}")]
    public static partial void BatchStarted(this ILogger logger, long batchId, string dbContext, int count, string messageIds);

    [LoggerMessage(EventId = 4131, Level = LogLevel.Debug, Message = "Batch {BatchId} of {DbContext}: {Count} members committed: {MessageIds}")]
    public static partial void BatchCommitted(this ILogger logger, long batchId, string dbContext, int count, string messageIds);

    [LoggerMessage(EventId = 4132, Level = LogLevel.Warning, Message = "Batch {BatchId} of {DbContext} split, its {Count} members run alone: {Reason}")]
    public static partial void BatchSplit(this ILogger logger, long batchId, string dbContext, int count, string reason);

    [LoggerMessage(EventId = 4133, Level = LogLevel.Debug, Message = "Batch {BatchId} of {DbContext}: message {MessageId} failed and was rolled back alone: {Reason}")]
    public static partial void MemberFailed(this ILogger logger, long batchId, string dbContext, Guid messageId, string reason);

    [LoggerMessage(EventId = 4134, Level = LogLevel.Warning, Message = "Batch {BatchId} of {DbContext}: message {MessageId} ran {ElapsedMs} ms while {Waiting} batch-mates waited")]
    public static partial void SlowMember(this ILogger logger, long batchId, string dbContext, Guid messageId, long elapsedMs, int waiting);
}
