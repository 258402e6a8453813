using MassTransit.Configuration;

namespace MassTransit.Patterns.Ambulance;

/// <summary>Marks outgoing messages urgent by the classifier's rules, per message type, on the send and publish pipes.</summary>
sealed class UrgentClassificationFilter<T>(UrgentClassifier classifier, AmbulanceMetrics metrics) : IFilter<SendContext<T>>, IFilter<PublishContext<T>>
    where T : class
{
    public Task Send(SendContext<T> context, IPipe<SendContext<T>> next)
    {
        Classify(context);
        return next.Send(context);
    }

    public Task Send(PublishContext<T> context, IPipe<PublishContext<T>> next)
    {
        Classify(context);
        return next.Send(context);
    }

    void Classify(SendContext<T> context)
    {
        if (UrgentMark.Read(context.Headers) is not null)
            return;
        if (classifier.Classify(context.Message) is { } rule)
        {
            context.SetUrgent();
            metrics.Classified.Add(1, new KeyValuePair<string, object?>(AmbulanceMetrics.RuleTag, rule));
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("ambulanceClassifier");
}
