namespace MassTransit.Patterns.Contextual;

/// <summary>Settles in-memory routed sends after delivery (or failure), so retirement knows what is on its way.</summary>
sealed class ContextualSendObserver : ISendObserver
{
    public Task PreSend<T>(SendContext<T> context) where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context) where T : class
    {
        if (context.TryGetPayload<RoutedPayload>(out var routed))
            routed.Settle(true);
        return Task.CompletedTask;
    }

    public Task SendFault<T>(SendContext<T> context, Exception exception) where T : class
    {
        if (context.TryGetPayload<RoutedPayload>(out var routed))
            routed.Settle(false);
        return Task.CompletedTask;
    }
}
