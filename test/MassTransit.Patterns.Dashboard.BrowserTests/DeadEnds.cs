using System.Collections.Concurrent;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// Deliveries seen on the dead-end queues (<c>_skipped</c>, <c>_error</c>) of the host's endpoints, by message id. On the
/// in-memory transport a moved message only exists if a queue is bound to the dead-end exchange, so the host binds one per
/// dead end.
/// </summary>
public sealed class DeadEnds(IEnumerable<string> queues) : IReceiveObserver
{
    readonly HashSet<string> _queues = [.. queues];
    readonly ConcurrentQueue<Guid> _arrived = new();

    public IReadOnlyCollection<string> Queues => _queues;

    public IReadOnlyCollection<Guid> Ids => [.. _arrived];

    public Task PreReceive(ReceiveContext context)
    {
        var queue = context.InputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1];
        if (_queues.Contains(queue))
            _arrived.Enqueue(context.GetMessageId() ?? Guid.Empty);
        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
}
