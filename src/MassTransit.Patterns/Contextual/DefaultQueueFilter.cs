using MassTransit.Configuration;

namespace MassTransit.Patterns.Contextual;

/// <summary>On the default queue: notices contexts that have no queue yet and has it created; the message itself is consumed here.</summary>
sealed class DefaultQueueFilter(ContextualRouting routing) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (routing.Extract(context) is { } message)
            routing.Seen(message);
        try
        {
            await next.Send(context).ConfigureAwait(false);
        }
        finally
        {
            routing.DefaultConsumedOne();
            routing.Metrics.Consumed(routing.Options.DefaultQueueName, routing.Options.DefaultQueueName);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("contextualDefaultQueue");
}
