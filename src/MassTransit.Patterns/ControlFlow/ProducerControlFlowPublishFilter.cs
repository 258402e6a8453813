namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// Classifies a published message by the flow state of every watched queue that consumes its type (see the send
/// filter). The publish is one message to every subscriber, so it is held by them all (the gate warns once per type).
/// </summary>
sealed class ProducerControlFlowPublishFilter<T>(ProducerControlFlowGate gate, FlowControlStateStore store) : IFilter<PublishContext<T>>
    where T : class
{
    static readonly string MessageTypeUrn = MessageUrn.ForTypeString<T>();

    public async Task Send(PublishContext<T> context, IPipe<PublishContext<T>> next)
    {
        await next.Send(context).ConfigureAwait(false);
        if (gate.Classify(store.QueuesConsuming(MessageTypeUrn), context.Headers, typeof(T)) is { Length: > 0 } held)
            context.GetOrAddPayload(() => new ControlFlowHold(held, typeof(T)));
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("producerControlFlow");
}
