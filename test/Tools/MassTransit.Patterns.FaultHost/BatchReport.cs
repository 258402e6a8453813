using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.FaultHost;

/// <summary>
/// Turns the batched inbox's log events (category <see cref="Category"/>) into report lines a test can parse, one per event:
/// <c>BATCH &lt;batchId&gt; &lt;count&gt; &lt;id,id,...&gt;</c> (4130, claimed, before its members run, ids in the order they run),
/// <c>BATCH-COMMITTED &lt;batchId&gt; &lt;count&gt;</c> (4131), <c>SPLIT &lt;batchId&gt; &lt;count&gt; &lt;reason&gt;</c> (4132) and
/// <c>MEMBER-FAILED &lt;batchId&gt; &lt;messageId&gt;</c> (4133). Other categories and events are not reported.
/// </summary>
public sealed class BatchReportLoggerProvider(Action<string> report, Action<IReadOnlyList<Guid>>? batchStarted = null) : ILoggerProvider
{
    public const string Category = "MassTransit.Patterns.EventForwarding.Batching";

    public ILogger CreateLogger(string categoryName) =>
        categoryName.StartsWith(Category, StringComparison.Ordinal) ? new BatchLogger(report, batchStarted) : NullLogger.Instance;

    public void Dispose()
    {
    }

    sealed class BatchLogger(Action<string> report, Action<IReadOnlyList<Guid>>? batchStarted) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (state is not IReadOnlyList<KeyValuePair<string, object?>> values)
                return;

            string Value(string name) => Convert.ToString(values.FirstOrDefault(v => v.Key == name).Value, CultureInfo.InvariantCulture) ?? "";
            string OneLine(string text) => text.ReplaceLineEndings(" ");

            switch (eventId.Id)
            {
                case 4130:
                    var ids = Value("MessageIds");
                    // Recorded before the line is written: a member's consumer runs after this event, and may look itself up.
                    batchStarted?.Invoke(BatchReport.ParseIds(ids));
                    report($"BATCH {Value("BatchId")} {Value("Count")} {ids}");
                    break;
                case 4131:
                    report($"BATCH-COMMITTED {Value("BatchId")} {Value("Count")}");
                    break;
                case 4132:
                    report($"SPLIT {Value("BatchId")} {Value("Count")} {OneLine(Value("Reason"))}");
                    break;
                case 4133:
                    report($"MEMBER-FAILED {Value("BatchId")} {Value("MessageId")}");
                    break;
            }
        }
    }
}

public static class BatchReportLogging
{
    /// <summary>Reports the batched inbox's events through <paramref name="report"/> (<see cref="BatchReportLoggerProvider"/>), with Debug enabled for their category on this provider only.</summary>
    public static ILoggingBuilder AddBatchReport(this ILoggingBuilder logging, Action<string> report, Action<IReadOnlyList<Guid>>? batchStarted = null)
    {
        logging.AddProvider(new BatchReportLoggerProvider(report, batchStarted));
        logging.AddFilter<BatchReportLoggerProvider>(BatchReportLoggerProvider.Category, LogLevel.Debug);
        return logging;
    }
}

/// <summary>One <c>BATCH</c> line: a batch claimed, with its members in the order they ran.</summary>
public sealed record BatchStartedLine(long BatchId, int Count, IReadOnlyList<Guid> MessageIds);

/// <summary>What the report lines of one consumer say about its batches.</summary>
public sealed class BatchReport
{
    BatchReport(IReadOnlyList<BatchStartedLine> started, IReadOnlyList<long> committed, int splits, int memberFailures)
    {
        Started = started;
        Committed = committed;
        Splits = splits;
        MemberFailures = memberFailures;
    }

    /// <summary>Every batch claimed (a batch of one runs as a single message and has no line).</summary>
    public IReadOnlyList<BatchStartedLine> Started { get; }

    /// <summary>The ids of the batches that committed.</summary>
    public IReadOnlyList<long> Committed { get; }

    public int Splits { get; }

    public int MemberFailures { get; }

    /// <summary>The largest batch claimed; 0 when none was.</summary>
    public int MaxSize => Started.Select(b => b.Count).DefaultIfEmpty(0).Max();

    /// <summary>The batch that claimed <paramref name="messageId"/> last (a split member is not claimed again in a batch).</summary>
    public BatchStartedLine? Of(Guid messageId) => Started.LastOrDefault(b => b.MessageIds.Contains(messageId));

    public override string ToString() =>
        $"{Started.Count} (sizes [{string.Join(",", Started.Select(b => b.Count))}], committed {Committed.Count}, splits {Splits}, member failures {MemberFailures})";

    public static IReadOnlyList<Guid> ParseIds(string ids) =>
        ids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Guid.Parse).ToArray();

    public static BatchReport Parse(IEnumerable<string> lines)
    {
        var started = new List<BatchStartedLine>();
        var committed = new List<long>();
        int splits = 0, failures = 0;
        foreach (var line in lines)
        {
            var parts = line.Split(' ', 4);
            switch (parts[0])
            {
                case "BATCH" when parts.Length >= 4:
                    started.Add(new BatchStartedLine(long.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture), ParseIds(parts[3])));
                    break;
                case "BATCH-COMMITTED":
                    committed.Add(long.Parse(parts[1], CultureInfo.InvariantCulture));
                    break;
                case "SPLIT":
                    splits++;
                    break;
                case "MEMBER-FAILED":
                    failures++;
                    break;
            }
        }
        return new BatchReport(started, committed, splits, failures);
    }
}
