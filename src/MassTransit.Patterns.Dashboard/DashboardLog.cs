using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Dashboard;

/// <summary>The console's log messages.</summary>
static partial class DashboardLog
{
    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "Repair console: {Actor} {Action} {Id}: {Outcome}")]
    public static partial void Action(ILogger logger, string actor, string action, Guid id, string outcome);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Information, Message = "Repair console: bulk {Action} job {JobId} by {Actor} started for {Total} messages")]
    public static partial void BulkStarted(ILogger logger, string action, Guid jobId, string actor, int total);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Information, Message = "Repair console: bulk job {JobId} {State}: {Done} of {Total} done, {Succeeded} succeeded, {Refused} refused")]
    public static partial void BulkFinished(ILogger logger, Guid jobId, string state, int done, int total, int succeeded, int refused);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Information, Message = "Operations view: {Actor} {Page}/{Action} {Target}: {Status} {Outcome}")]
    public static partial void Operation(ILogger logger, string actor, string page, string action, string target, int status, string outcome);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Warning, Message = "Repair console: bulk job {JobId} stopped on an error after {Done} of {Total}")]
    public static partial void BulkFailed(ILogger logger, Exception exception, Guid jobId, int done, int total);
}
