using MassTransit.Configuration;

namespace MassTransit.Patterns.Ambulance;

/// <summary>Adds <see cref="UrgentClassificationFilter{T}"/> to each message type's send and publish pipe.</summary>
sealed class UrgentClassificationObserver(UrgentClassifier classifier, AmbulanceMetrics metrics) : ISendPipeSpecificationObserver, IPublishPipeSpecificationObserver
{
    public void MessageSpecificationCreated<T>(IMessageSendPipeSpecification<T> specification)
        where T : class =>
        specification.UseFilter(new UrgentClassificationFilter<T>(classifier, metrics));

    public void MessageSpecificationCreated<T>(IMessagePublishPipeSpecification<T> specification)
        where T : class =>
        specification.UseFilter(new UrgentClassificationFilter<T>(classifier, metrics));
}
