using MassTransit.Configuration;
using MassTransit.Patterns.ControlFlow.Contracts;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>Adds the gate to the send and publish pipes of every message type as it is configured (except the control messages themselves).</summary>
sealed class ProducerControlFlowObserver(ProducerControlFlowGate gate, FlowControlStateStore store) : ISendPipeSpecificationObserver, IPublishPipeSpecificationObserver
{
    public void MessageSpecificationCreated<T>(IMessageSendPipeSpecification<T> specification)
        where T : class
    {
        if (typeof(T) != typeof(FlowControlStateChanged))
            specification.AddPipeSpecification(new FilterPipeSpecification<SendContext<T>>(new ProducerControlFlowSendFilter<T>(gate)));
    }

    public void MessageSpecificationCreated<T>(IMessagePublishPipeSpecification<T> specification)
        where T : class
    {
        if (typeof(T) != typeof(FlowControlStateChanged))
            specification.AddPipeSpecification(new FilterPipeSpecification<PublishContext<T>>(new ProducerControlFlowPublishFilter<T>(gate, store)));
    }
}
