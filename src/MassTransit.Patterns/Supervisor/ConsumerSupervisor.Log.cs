using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Supervisor;

/// <summary>The supervisor's log messages.</summary>
internal sealed partial class ConsumerSupervisor
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Supervisor of {Queue} started: {MinConsumers} to {MaxConsumers} consumers, deciding {Mode}.")]
    partial void LogStarted(string queue, int minConsumers, int maxConsumers, string mode);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Supervisor of {Queue} scaled {Direction} from {Previous} to {Limit} consumers (depth {Depth}, {Active} in flight).")]
    partial void LogScaled(string queue, string direction, int previous, int limit, long? depth, int active);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Supervisor of {Queue} could not read the depth with the {Probe} probe ({Failure}); holding {Limit} consumers: {Reason}")]
    partial void LogProbeFailedHolding(string queue, string probe, QueueDepthFailure failure, int limit, string reason);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Debug, Message = "Supervisor of {Queue} still cannot read the depth ({Failures} in a row); holding {Limit} consumers: {Reason}")]
    partial void LogProbeStillFailing(string queue, int failures, int limit, string reason);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Information, Message = "Supervisor of {Queue} reads the depth again after {Failures} failed readings; a scale-down needs a full cool-down of new readings.")]
    partial void LogProbeRecovered(string queue, int failures);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Supervisor of {Queue}: the supervisor saga did not answer ({Failures} in a row); holding {Limit} consumers: {Reason}")]
    partial void LogFleetFailed(string queue, long failures, int limit, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Supervisor of {Queue}: the supervisor saga answers again.")]
    partial void LogFleetRecovered(string queue);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Supervisor of {Queue} failed one look; it keeps its level and looks again at the next interval.")]
    partial void LogTickFailed(string queue, Exception exception);
}
