namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// The queues whose state holds a message, found by the filter in the send pipe and held by
/// <see cref="ProducerControlFlowHoldObserver"/> just before the message leaves, once.
/// </summary>
sealed class ControlFlowHold(string[] queues, Type? publishedType = null)
{
    string[]? _queues = queues;

    /// <summary>The published message type, for the gate's fan-out warning; null for a send.</summary>
    public Type? PublishedType => publishedType;

    public string[]? Take() => Interlocked.Exchange(ref _queues, null);
}
