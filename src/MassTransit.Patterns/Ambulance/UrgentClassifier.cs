using MassTransit.Configuration;

using System.Collections.Concurrent;
using System.Reflection;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// Decides whether an outgoing message is urgent: a predicate registered for its type (or a type it
/// derives from or implements), or <see cref="UrgentAttribute"/> on its type, a base type or an
/// interface. A mark already on the context (<c>SetUrgent</c>, or copied from a redelivered
/// message) is left as it is.
/// </summary>
sealed class UrgentClassifier
{
    readonly List<(Type Type, Func<object, bool> Predicate)> _predicates = [];
    readonly ConcurrentDictionary<Type, Rules> _rules = new();

    public int PredicateCount => _predicates.Count;

    public void Add<T>(Func<T, bool> predicate)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(predicate);
        _predicates.Add((typeof(T), message => predicate((T)message)));
        _rules.Clear();
    }

    /// <summary>The rule that makes <paramref name="message"/> urgent (<c>predicate</c>, <c>attribute</c>), or null.</summary>
    public string? Classify<T>(T message)
        where T : class
    {
        var rules = _rules.GetOrAdd(message.GetType(), Build);
        if (rules.Attribute)
            return "attribute";
        foreach (var predicate in rules.Predicates)
            if (predicate(message))
                return "predicate";
        return null;
    }

    Rules Build(Type type)
    {
        var attribute = type.GetCustomAttribute<UrgentAttribute>(inherit: true) is not null
            || type.GetInterfaces().Any(i => i.GetCustomAttribute<UrgentAttribute>() is not null);
        var predicates = _predicates.Where(p => p.Type.IsAssignableFrom(type)).Select(p => p.Predicate).ToArray();
        return new Rules(attribute, predicates);
    }

    sealed record Rules(bool Attribute, Func<object, bool>[] Predicates);
}

/// <summary>Marks outgoing messages urgent by the classifier's rules, per message type, on the send and publish pipes.</summary>
sealed class UrgentClassificationFilter<T>(UrgentClassifier classifier) : IFilter<SendContext<T>>, IFilter<PublishContext<T>>
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
        if (AmbulanceContextExtensions.ReadMark(context.Headers) is not null)
            return;
        if (classifier.Classify(context.Message) is { } rule)
        {
            context.SetUrgent();
            AmbulanceMetrics.Classified.Add(1, new KeyValuePair<string, object?>(AmbulanceMetrics.RuleTag, rule));
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("ambulanceClassifier");
}

/// <summary>Adds <see cref="UrgentClassificationFilter{T}"/> to each message type's send and publish pipe.</summary>
sealed class UrgentClassificationObserver(UrgentClassifier classifier) : ISendPipeSpecificationObserver, IPublishPipeSpecificationObserver
{
    public void MessageSpecificationCreated<T>(IMessageSendPipeSpecification<T> specification)
        where T : class =>
        specification.UseFilter(new UrgentClassificationFilter<T>(classifier));

    public void MessageSpecificationCreated<T>(IMessagePublishPipeSpecification<T> specification)
        where T : class =>
        specification.UseFilter(new UrgentClassificationFilter<T>(classifier));
}

/// <summary>
/// Just before a message leaves, after every pipe and callback: writes the urgent mark in the exact
/// form the broker routes on, and lets the transport add its own mark (the in-memory routing key).
/// </summary>
sealed class UrgentSendObserver(IAmbulanceLaneTransport? transport) : ISendObserver, IPublishObserver
{
    void Prepare(SendContext context)
    {
        var mark = AmbulanceContextExtensions.ReadMark(context.Headers);
        if (mark is null)
            return;
        if (mark == true && !AmbulanceContextExtensions.HasRoutingMark(context.Headers))
            context.Headers.Set(AmbulanceHeaders.Urgent, AmbulanceHeaders.True);
        if (mark == true)
            transport?.PrepareSend(context);
    }

    public Task PreSend<T>(SendContext<T> context)
        where T : class
    {
        Prepare(context);
        return Task.CompletedTask;
    }

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class
    {
        Prepare(context);
        return Task.CompletedTask;
    }

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}
