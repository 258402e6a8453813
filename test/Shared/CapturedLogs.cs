using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// Every log entry of the buses and DbContexts given <see cref="Use"/>, for tests that assert what
/// normal operation logs. One factory for the whole process, never disposed: MassTransit keeps
/// logging state in statics, and a factory disposed with one test's container can break a bus
/// built later.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider
{
    public static readonly CapturedLogs Instance = new();

    static readonly ILoggerFactory Factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddProvider(Instance));

    public sealed record Entry(long Sequence, string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}[{EventId.Id}] {Message}{(Exception is null ? "" : " | " + Exception.Message)}";
    }

    readonly ConcurrentQueue<Entry> _entries = new();
    long _sequence;

    CapturedLogs()
    {
    }

    /// <summary>Routes the container's logging (EF Core's, MassTransit's, ours) to the capture.</summary>
    public static void Use(IServiceCollection services) => services.AddSingleton(Factory).AddLogging();

    /// <summary>A point in the capture; <see cref="Since"/> returns what was logged after it.</summary>
    public long Mark() => Interlocked.Read(ref _sequence);

    public IReadOnlyList<Entry> Since(long mark) => _entries.Where(e => e.Sequence > mark).ToList();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    sealed class Logger(CapturedLogs logs, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull =>
            null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            logs._entries.Enqueue(new Entry(Interlocked.Increment(ref logs._sequence), category, logLevel, eventId, formatter(state, exception), exception));
    }
}
