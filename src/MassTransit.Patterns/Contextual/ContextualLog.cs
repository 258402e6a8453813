using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Contextual;

/// <summary>The contextual queues' log messages (category <c>MassTransit.Patterns.Contextual</c>).</summary>
static partial class ContextualLog
{
    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Context {Context} has its queue {Queue} on {Transport}")]
    public static partial void ContextCreated(ILogger logger, string context, string queue, string transport);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Context {Context}: queue {Queue} retired after consuming {Consumed} messages (drained in {DrainMs:F0} ms)")]
    public static partial void ContextRetired(ILogger logger, string context, string queue, long consumed, double drainMs);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Warning, Message = "Context {Context}: creating queue {Queue} failed; its messages stay on the default queue")]
    public static partial void CreateFailed(ILogger logger, string context, string queue, Exception exception);

    [LoggerMessage(EventId = 8004, Level = LogLevel.Warning, Message = "Retiring context queue {Queue} failed; the queue is kept")]
    public static partial void RetireFailed(ILogger logger, string queue, Exception exception);

    [LoggerMessage(EventId = 8005, Level = LogLevel.Warning, Message = "The context selector of {MessageType} threw; the message goes to the default queue")]
    public static partial void SelectorFailed(ILogger logger, string messageType, Exception exception);

    [LoggerMessage(EventId = 8006, Level = LogLevel.Warning,
        Message = "Context {Context} maps to key {Key}, as context {Other} does (their sanitized forms agree and their hashes collide): both share queue {Queue}")]
    public static partial void KeyShared(ILogger logger, string context, string other, string key, string queue);

    [LoggerMessage(EventId = 8007, Level = LogLevel.Warning,
        Message = "Context {Context} (key {Key}): its queue {Queue} clashes with the queue of {Other} (queue names ignore case); its messages stay on the default queue")]
    public static partial void QueueNameTaken(ILogger logger, string context, string key, string queue, string other);
}
