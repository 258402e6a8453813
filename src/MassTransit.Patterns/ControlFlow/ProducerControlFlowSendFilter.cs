namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// Classifies a sent message by the flow state of its destination queue. It runs the rest of the send pipe first, so
/// the ambulance classifier has marked the message whichever pattern was configured first; a refusal is thrown here, a
/// hold is left to <see cref="ProducerControlFlowHoldObserver"/>, which runs after the caller's send callback (where
/// <c>SetUrgent()</c> is usually called) and before the transport sends. (MassTransit runs the send pipe for publishes
/// too; their destination is the message type's exchange, which no monitor watches, so they pass here and are
/// classified by <see cref="ProducerControlFlowPublishFilter{T}"/>.)
/// </summary>
sealed class ProducerControlFlowSendFilter<T>(ProducerControlFlowGate gate) : IFilter<SendContext<T>>
    where T : class
{
    public async Task Send(SendContext<T> context, IPipe<SendContext<T>> next)
    {
        await next.Send(context).ConfigureAwait(false);
        if (Addressing.AddressNames.EntityName(context.DestinationAddress) is { } queue && gate.Classify([queue], context.Headers) is { Length: > 0 } held)
            context.GetOrAddPayload(() => new ControlFlowHold(held));
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("producerControlFlow");
}
