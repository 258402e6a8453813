using System.Collections.Concurrent;

namespace MassTransit.Patterns.Dashboard.TestHost;

/// <summary>
/// Deliveries seen on the dead-end queues (<c>_error</c>, <c>_skipped</c>) of the orders endpoint and of the workflow
/// processor. On the in-memory transport a moved message only exists if a queue is bound there, so the host binds one
/// per dead end.
/// </summary>
public sealed class DeadEnds : IReceiveObserver
{
    public static readonly string[] Queues = ["orders_error", "orders_skipped", "workflow-repair_error", "workflow-repair_skipped"];

    public ConcurrentQueue<(string Queue, Guid? MessageId)> Arrived { get; } = new();

    public Task PreReceive(ReceiveContext context)
    {
        var queue = context.InputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1];
        if (Queues.Contains(queue))
            Arrived.Enqueue((queue, context.GetMessageId()));
        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
}
