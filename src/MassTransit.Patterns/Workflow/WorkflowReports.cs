using System.Diagnostics;

namespace MassTransit.Patterns.Workflow;

/// <summary>Builds the failure reports the filters send.</summary>
static class WorkflowReports
{
    const int DetailLimit = 4_000;

    /// <summary>The report of a consumer's failure; <paramref name="attemptActivity"/> is the delivery's consume activity (recorded in the headers).</summary>
    public static WorkflowFailureReported FromConsume(ConsumeContext context, Exception exception, WorkflowEventOptions options, Activity? attemptActivity)
    {
        var lineage = WorkflowHeaders.TryGetLineage(context, out var originalId, out var attempt);
        var receive = context.ReceiveContext;
        var headers = ReadHeaders(receive.TransportHeaders);
        WorkflowTelemetry.RecordFailedAttempt(headers, attemptActivity);
        return new WorkflowFailureReported
        {
            CorrelationId = lineage ? originalId : context.MessageId ?? receive.GetMessageId() ?? NewId.NextGuid(),
            MessageId = context.MessageId,
            Attempt = lineage ? attempt : 0,
            MessageTypes = [.. context.SupportedMessageTypes],
            SourceAddress = receive.InputAddress,
            ContentType = receive.ContentType?.ToString(),
            Body = receive.Body.GetBytes(),
            Headers = headers,
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
        var headers = ReadHeaders(context.TransportHeaders);
        WorkflowTelemetry.RecordFailedAttempt(headers, WorkflowTelemetry.Consume());
        return new WorkflowFailureReported
        {
            CorrelationId = lineage ? originalId : context.GetMessageId() ?? NewId.NextGuid(),
            MessageId = context.GetMessageId(),
            Attempt = lineage ? attempt : 0,
            MessageTypes = [],
            SourceAddress = context.InputAddress,
            ContentType = context.ContentType?.ToString(),
            Body = context.Body.GetBytes(),
            Headers = headers,
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
