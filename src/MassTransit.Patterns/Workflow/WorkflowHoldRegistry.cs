using System.Collections.Concurrent;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The keys held in this process, per queue: key to leader id. Filled when this process hands a
/// keyed failure off and when another instance announces one (<see cref="WorkflowKeyHeld"/>); emptied
/// when the leader's release is announced (<see cref="WorkflowKeyReleased"/>).
/// </summary>
public sealed class WorkflowHoldRegistry
{
    readonly Dictionary<(string Queue, string Key), HeldKey> _held = [];
    readonly Lock _gate = new();
    readonly ConcurrentDictionary<(string Queue, string Key), long> _sequence = new();
    readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A registry ready at once (nothing to load).</summary>
    public WorkflowHoldRegistry()
        : this(false)
    {
    }

    /// <summary>
    /// A registry that, with <paramref name="loadAtStart"/>, is not <see cref="Ready"/> until the keys the
    /// processor still holds have been loaded at bus start (<see cref="WorkflowHoldLoader"/>): until then
    /// the filter waits before deciding whether a keyed message is held, so a restart does not free them.
    /// </summary>
    public WorkflowHoldRegistry(bool loadAtStart)
    {
        if (!loadAtStart)
            _ready.TrySetResult();
    }

    /// <summary>Completes once the held keys are known (loaded, or the load gave up).</summary>
    public Task Ready => _ready.Task;

    /// <summary>Marks the registry ready.</summary>
    public void MarkReady() => _ready.TrySetResult();

    /// <summary>The leader holding <paramref name="key"/> on <paramref name="queue"/>, or null.</summary>
    public Guid? LeaderOf(string queue, string key)
    {
        lock (_gate)
            return _held.TryGetValue((queue, key), out var held) ? held.Leader : null;
    }

    /// <summary>Keys held now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _held.Count;
        }
    }

    /// <summary>Holds <paramref name="key"/> behind <paramref name="leaderId"/> (the latest failure of the key leads).</summary>
    public void Hold(string queue, string key, Guid leaderId)
    {
        lock (_gate)
            if (!_held.TryGetValue((queue, key), out var held) || held.Leader != leaderId)
                _held[(queue, key)] = new HeldKey(leaderId, null);
    }

    /// <summary>Releases the key if <paramref name="leaderId"/> still holds it.</summary>
    public bool Release(string queue, string key, Guid leaderId)
    {
        lock (_gate)
            return _held.TryGetValue((queue, key), out var held) && held.Leader == leaderId && _held.Remove((queue, key));
    }

    /// <summary>
    /// Releases the key if <paramref name="leaderId"/> still holds it and the last message held behind it here is
    /// <paramref name="lastReleasedId"/> (or none was held): nothing held later is still on its way back.
    /// </summary>
    public bool ReleaseIfDrained(string queue, string key, Guid leaderId, Guid? lastReleasedId)
    {
        lock (_gate)
            return _held.TryGetValue((queue, key), out var held) && held.Leader == leaderId
                && (held.LastHeld is null || held.LastHeld == lastReleasedId) && _held.Remove((queue, key));
    }

    /// <summary>
    /// Decides, at once with the releases, whether message <paramref name="messageId"/> of <paramref name="key"/> is held:
    /// it is when a leader holds the key and <paramref name="passes"/> does not let it through; then it is recorded as
    /// the last held behind that leader and gets the next sequence.
    /// </summary>
    internal bool TryHoldBehind(string queue, string key, Guid messageId, Func<Guid, bool> passes, out Guid leader, out long sequence)
    {
        lock (_gate)
        {
            if (_held.TryGetValue((queue, key), out var held) && !passes(held.Leader))
            {
                _held[(queue, key)] = held with { LastHeld = messageId };
                leader = held.Leader;
                sequence = NextSequence(queue, key);
                return true;
            }
        }
        leader = Guid.Empty;
        sequence = 0;
        return false;
    }

    sealed record HeldKey(Guid Leader, Guid? LastHeld);

    internal long NextSequence(string queue, string key) => _sequence.AddOrUpdate((queue, key), 1, (_, n) => n + 1);
}
