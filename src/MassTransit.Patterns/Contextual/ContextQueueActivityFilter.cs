using MassTransit.Configuration;

namespace MassTransit.Patterns.Contextual;

/// <summary>On a context or bucket queue: records activity (for idle retirement and draining), counts messages, and notices contexts sharing a key.</summary>
sealed class ContextQueueActivityFilter(ContextQueue queue, ContextualRouting routing) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        Interlocked.Increment(ref queue.InFlight);
        queue.Touch();
        if (routing.Extract(context) is { } message)
            routing.Consumed(message, queue);
        try
        {
            await next.Send(context).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Increment(ref queue.Completed);
            queue.Touch();
            Interlocked.Decrement(ref queue.InFlight);
            routing.Metrics.Consumed(routing.Options.DefaultQueueName, queue.Name);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("contextualQueue");
}
