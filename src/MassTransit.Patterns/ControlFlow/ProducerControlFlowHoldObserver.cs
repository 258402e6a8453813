namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// Holds a message just before the transport sends it, by the queues its filter found held, reading its final urgent
/// mark (the caller's callback, the ambulance classifier). Connected as a send and a publish observer; holds once.
/// </summary>
sealed class ProducerControlFlowHoldObserver(ProducerControlFlowGate gate) : ISendObserver, IPublishObserver
{
    Task Hold(SendContext context) =>
        context.TryGetPayload<ControlFlowHold>(out var hold) && hold.Take() is { } queues
            ? gate.HoldAsync(queues, context.Headers, hold.PublishedType, context.CancellationToken)
            : Task.CompletedTask;

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Hold(context);

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Hold(context);

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}
