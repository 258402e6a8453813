using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Multibroker;

static partial class MultibrokerLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "Multibroker broker {Broker} started ({Strategy}, {Count} brokers).")]
    public static partial void BrokerStarted(ILogger logger, string broker, MultibrokerStrategy strategy, int count);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Multibroker broker {Broker} did not start ({Reason}); trying again in {RestartInterval}.")]
    public static partial void BrokerStartFailed(ILogger logger, string broker, string reason, TimeSpan restartInterval);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Multibroker broker {Broker} left the rotation: {State} ({Reason}).")]
    public static partial void BrokerLeft(ILogger logger, string broker, BrokerState state, string reason);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information, Message = "Multibroker broker {Broker} rejoined the rotation.")]
    public static partial void BrokerRejoined(ILogger logger, string broker);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Warning, Message = "Multibroker send of {MessageId} through {Broker} failed ({Reason}); trying {Next}.")]
    public static partial void SendFailedOver(ILogger logger, Guid? messageId, string broker, string reason, string next);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Debug, Message = "Multibroker send of {MessageId} through {Broker} had no confirm after {HedgeDelay}; also sending it through {Next}.")]
    public static partial void SendHedged(ILogger logger, Guid? messageId, string broker, TimeSpan hedgeDelay, string next);

    [LoggerMessage(EventId = 7008, Level = LogLevel.Debug, Message = "Multibroker broker {Broker} still does not answer ({Reason}); probed again in {EjectedFor}.")]
    public static partial void BrokerStillUnanswered(ILogger logger, string broker, string reason, TimeSpan ejectedFor);

    [LoggerMessage(EventId = 7009, Level = LogLevel.Warning, Message = "Multibroker broker {Broker} held out of rotation by an operator ({Reason}).")]
    public static partial void BrokerHeld(ILogger logger, string broker, string reason);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Multibroker broker {Broker} released from its hold; now {State}.")]
    public static partial void BrokerReleased(ILogger logger, string broker, BrokerState state);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Error, Message = "Multibroker send of {MessageId} failed on every broker tried ({Attempts}).")]
    public static partial void SendFailed(ILogger logger, Guid? messageId, int attempts);
}
