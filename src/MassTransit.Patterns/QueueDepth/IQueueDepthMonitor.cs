namespace MassTransit.Patterns.QueueDepth;

/// <summary>The latest depth readings of the queues that patterns watch, and a feed of new ones.</summary>
public interface IQueueDepthMonitor
{
    /// <summary>The latest reading of <paramref name="queue"/>, or null before the first poll.</summary>
    QueueDepthReading? GetLatest(string queue);

    /// <summary>The queues polled (configured, subscribed or polled once): read each one's latest reading with <see cref="GetLatest"/>.</summary>
    IReadOnlyCollection<string> Queues { get; }

    /// <summary>
    /// Calls <paramref name="handler"/> with each new reading of <paramref name="queue"/> (adding the
    /// queue to those polled) until the returned handle is disposed.
    /// </summary>
    IDisposable Subscribe(string queue, Func<QueueDepthReading, CancellationToken, Task> handler);

    /// <summary>Polls <paramref name="queue"/> now, outside the schedule, and records the reading.</summary>
    Task<QueueDepthReading> PollAsync(string queue, CancellationToken cancellationToken = default);
}
