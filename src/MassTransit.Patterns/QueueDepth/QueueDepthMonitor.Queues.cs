namespace MassTransit.Patterns.QueueDepth;

/// <summary>The queues the monitor polls.</summary>
sealed partial class QueueDepthMonitor
{
    /// <inheritdoc />
    public IReadOnlyCollection<string> Queues => [.. _queues.Keys];
}
