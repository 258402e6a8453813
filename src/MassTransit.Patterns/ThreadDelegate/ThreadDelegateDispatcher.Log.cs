using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The dispatcher's log messages.</summary>
sealed partial class ThreadDelegateDispatcher
{
    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning,
        Message = "Thread delegate on {Endpoint}: no delivery order was chosen for this {Scheme} endpoint, so messages are ordered as they reach the filter (best effort). Set ThreadDelegateOptions.DeliveryOrder (o.UseRabbitMqDeliveryOrder() on RabbitMQ).")]
    static partial void LogArrivalOrder(ILogger logger, string endpoint, string scheme);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning,
        Message = "Thread delegate on {Endpoint}: deliveries {From}..{To} never reached the filter within {Timeout}; skipped so later deliveries go on.")]
    static partial void LogGapSkipped(ILogger logger, string endpoint, long from, long to, TimeSpan timeout);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Warning,
        Message = "Thread delegate on {Endpoint}: key {Key} is held after message {MessageId} failed; its later messages go to the error queue in order until it is released.")]
    static partial void LogKeyHeld(ILogger logger, string endpoint, string key, Guid? messageId);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Information, Message = "Thread delegate on {Endpoint}: key {Key} released.")]
    static partial void LogKeyReleased(ILogger logger, string endpoint, string key);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Information,
        Message = "Thread delegate on {Endpoint}: the endpoint stopped with delivery {Position} missing (the transport returns it to the queue); {Returned} later deliveries go back unprocessed so none runs ahead of it.")]
    static partial void LogReturnedAtStop(ILogger logger, string endpoint, long position, int returned);

    [LoggerMessage(EventId = 9006, Level = LogLevel.Debug,
        Message = "Thread delegate on {Endpoint}: the in-memory start-up batch closed at the end of its {Window} window with {Deliveries} deliveries from {Readers} readers; the readers that had taken none were idle or not yet started (which cannot be known): a reader started later takes its first message outside the order gate.")]
    static partial void LogStartupWindowClosed(ILogger logger, string endpoint, int deliveries, int readers, TimeSpan window);
}
