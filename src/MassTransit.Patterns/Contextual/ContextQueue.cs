using System.Collections.Concurrent;
using System.Diagnostics;

namespace MassTransit.Patterns.Contextual;

/// <summary>One context or bucket queue in the registry.</summary>
sealed class ContextQueue(string name, string routingKey, bool isStatic, bool isBucket)
{
    public string Name { get; } = name;
    public string RoutingKey { get; } = routingKey;
    public bool IsStatic { get; } = isStatic;
    public bool IsBucket { get; } = isBucket;
    public List<string> Keys { get; } = isBucket ? [] : [routingKey];
    public ConcurrentDictionary<string, bool> Bound { get; } = new(StringComparer.Ordinal);
    public volatile ContextQueueState State = ContextQueueState.Creating;
    public HostReceiveEndpointHandle? Handle;
    public readonly TaskCompletionSource Ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public long PendingSends;
    public long Routed;
    public long Completed;
    public long InFlight;
    public long LastActivity = Stopwatch.GetTimestamp();

    public string[] SnapshotKeys()
    {
        lock (Keys)
            return Keys.ToArray();
    }

    public void Touch() => Interlocked.Exchange(ref LastActivity, Stopwatch.GetTimestamp());
}
