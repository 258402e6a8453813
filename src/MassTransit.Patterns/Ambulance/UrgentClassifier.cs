using System.Collections.Concurrent;
using System.Reflection;
using MassTransit.Configuration;

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
