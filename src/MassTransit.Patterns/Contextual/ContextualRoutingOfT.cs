namespace MassTransit.Patterns.Contextual;

/// <summary>
/// The contextual queues of <typeparamref name="TMessage"/> in this container: registered by
/// <c>services.AddContextualQueues&lt;TMessage&gt;()</c>, configured by <c>cfg.UseContextualQueues&lt;TMessage&gt;(context, ...)</c>
/// when the bus is created, and read from DI (<c>provider.GetRequiredService&lt;ContextualRouting&lt;TMessage&gt;&gt;()</c>):
/// its <see cref="ContextualRouting.RouterAddress"/>, the queue of a context, the queues that exist.
/// </summary>
/// <typeparam name="TMessage">The routed message type.</typeparam>
public sealed class ContextualRouting<TMessage> : ContextualRouting
    where TMessage : class
{
    internal ContextualRouting(ContextualMetrics metrics)
        : base(typeof(TMessage), metrics)
    {
    }
}
