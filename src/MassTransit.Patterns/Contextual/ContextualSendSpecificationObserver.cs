using MassTransit.Configuration;

namespace MassTransit.Patterns.Contextual;

/// <summary>Adds the send filter to the routed message type's send pipe.</summary>
sealed class ContextualSendSpecificationObserver<TMessage>(ContextualRouting routing) : ISendPipeSpecificationObserver
    where TMessage : class
{
    public void MessageSpecificationCreated<T>(IMessageSendPipeSpecification<T> specification)
        where T : class
    {
        if (specification is IMessageSendPipeSpecification<TMessage> typed)
            typed.UseFilter(new ContextualSendFilter<TMessage>(routing));
    }
}
