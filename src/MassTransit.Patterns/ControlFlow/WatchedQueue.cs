namespace MassTransit.Patterns.ControlFlow;

/// <summary>The watermarks of one watched queue.</summary>
public sealed class WatchedQueue
{
    internal WatchedQueue(string queue) => Queue = queue;

    /// <summary>The queue's name.</summary>
    public string Queue { get; }

    /// <summary>At or above this depth producers are slowed.</summary>
    public long HighWatermark { get; set; } = 1_000;

    /// <summary>At or below this depth they resume; below <see cref="HighWatermark"/> so the state does not flap.</summary>
    public long LowWatermark { get; set; } = 500;

    /// <summary>At or above this depth producers are stopped; null for no stop.</summary>
    public long? StopMark { get; set; }

    /// <summary>Message types consumed from the queue: publishes of these are throttled with it.</summary>
    public IList<Type> MessageTypes { get; } = new List<Type>();

    /// <summary>Adds a message type consumed from the queue.</summary>
    public WatchedQueue Consumes<T>()
        where T : class
    {
        MessageTypes.Add(typeof(T));
        return this;
    }
}
