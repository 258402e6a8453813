namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// A handle on the thread delegates of one or more endpoints: their state now (lanes busy, keys in
/// flight, buffered messages), and the keys held after a failure (<see cref="FailedKeyBehavior.Hold"/>),
/// which <see cref="Release(string)"/> lets go once the failed message is resolved (for instance from a repair
/// workflow). Create one and set it as <see cref="ThreadDelegateOptions.Control"/>. To show it on the dashboard's
/// operations view, register the same instance in the container (<c>services.AddSingleton(control)</c>): the thread
/// delegate page reads every registered control.
/// </summary>
public sealed class ThreadDelegateControl
{
    readonly List<ThreadDelegateDispatcher> _dispatchers = [];

    internal void Attach(ThreadDelegateDispatcher dispatcher)
    {
        lock (_dispatchers)
            if (!_dispatchers.Contains(dispatcher))
                _dispatchers.Add(dispatcher);
    }

    ThreadDelegateDispatcher[] Dispatchers()
    {
        lock (_dispatchers)
            return [.. _dispatchers];
    }

    /// <summary>The dispatcher of an attached endpoint (tests and diagnostics).</summary>
    internal ThreadDelegateDispatcher? DispatcherOf(string endpoint) => Dispatchers().FirstOrDefault(d => d.Endpoint == endpoint);

    /// <summary>The state of each attached endpoint now, by endpoint (queue) name.</summary>
    public IReadOnlyDictionary<string, ThreadDelegateSnapshot> Snapshot() =>
        Dispatchers().ToDictionary(d => d.Endpoint, d => d.Snapshot());

    /// <summary>The keys held now, with the message whose failure holds each, across the attached endpoints.</summary>
    public IReadOnlyList<HeldKey> HeldKeys => Dispatchers().SelectMany(d => d.HeldKeys()).ToArray();

    /// <summary>Releases <paramref name="key"/> on every attached endpoint; returns true if it was held anywhere.</summary>
    public bool Release(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var released = false;
        foreach (var dispatcher in Dispatchers())
            released |= dispatcher.Release(key);
        return released;
    }

    /// <summary>Releases <paramref name="key"/> on the attached endpoint (queue) <paramref name="endpoint"/> only; returns true if it was held there.</summary>
    public bool Release(string endpoint, string key)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(key);
        return DispatcherOf(endpoint)?.Release(key) ?? false;
    }
}
