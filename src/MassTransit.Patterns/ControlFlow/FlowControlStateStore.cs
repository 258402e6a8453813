using System.Collections.Concurrent;
using MassTransit.Patterns.ControlFlow.Contracts;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// What the producers of this process know of each queue's flow state: fed by the monitor in
/// process, or by <see cref="FlowControlStateConsumer"/> from the bus. A statement whose lease has
/// run out counts as normal.
/// </summary>
public sealed class FlowControlStateStore
{
    readonly ConcurrentDictionary<string, Entry> _queues = new(StringComparer.OrdinalIgnoreCase);
    readonly ConcurrentDictionary<string, string[]> _queuesByMessageType = new(StringComparer.Ordinal);
    readonly TimeProvider _time;

    /// <summary>Creates the store.</summary>
    public FlowControlStateStore(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    /// <summary>Raised for every statement the store accepts (newer than what it held), for observation and tests.</summary>
    public event Action<FlowControlStateChanged>? Applied;

    /// <summary>Raised once when a throttling statement's lease runs out with no renewal.</summary>
    public event Action<FlowControlStateChanged>? LeaseExpired;

    /// <summary>Records a monitor's statement; an older one from the same monitor is ignored.</summary>
    public bool Apply(FlowControlStateChanged statement)
    {
        var entry = _queues.GetOrAdd(statement.Queue, _ => new Entry());
        lock (entry)
        {
            if (entry.Statement is { } current && current.MonitorId == statement.MonitorId && current.Sequence >= statement.Sequence)
                return false;
            entry.Statement = statement;
            entry.ExpiryReported = false;
        }

        foreach (var type in statement.MessageTypes)
            _queuesByMessageType.AddOrUpdate(type, [statement.Queue],
                (_, queues) => queues.Contains(statement.Queue, StringComparer.OrdinalIgnoreCase) ? queues : [.. queues, statement.Queue]);
        entry.Signal();
        Applied?.Invoke(statement);
        return true;
    }

    /// <summary>The queue's state now.</summary>
    public FlowStatus Get(string queue)
    {
        if (!_queues.TryGetValue(queue, out var entry))
            return new FlowStatus(queue, FlowState.Normal, null);

        FlowControlStateChanged? statement;
        var expired = false;
        lock (entry)
        {
            statement = entry.Statement;
            if (statement is null)
                return new FlowStatus(queue, FlowState.Normal, null);
            if (_time.GetUtcNow() >= statement.LeaseExpiresAt)
            {
                expired = statement.State != FlowState.Normal && !entry.ExpiryReported;
                entry.ExpiryReported = true;
                statement = null;
            }
        }

        if (expired)
            LeaseExpired?.Invoke(entry.Statement!);
        return statement is null ? new FlowStatus(queue, FlowState.Normal, null) : new FlowStatus(queue, statement.State, statement);
    }

    /// <summary>The queues the store has heard of (a statement, or a producer held by one), in no order.</summary>
    public IReadOnlyCollection<string> Queues => _queues.Keys.ToArray();

    /// <summary>What this process's producers met at <paramref name="queue"/> since start: throttled, rejected, bypassed, held now.</summary>
    public ProducerThrottling Throttling(string queue)
    {
        if (!_queues.TryGetValue(queue, out var entry))
            return new ProducerThrottling(queue, 0, 0, 0, 0);
        return new ProducerThrottling(queue, Interlocked.Read(ref entry.Throttled), Interlocked.Read(ref entry.Rejected),
            Interlocked.Read(ref entry.UrgentBypassed), Volatile.Read(ref entry.HeldNow));
    }

    internal void CountThrottled(string queue) => Interlocked.Increment(ref EntryOf(queue).Throttled);

    internal void CountRejected(string queue) => Interlocked.Increment(ref EntryOf(queue).Rejected);

    internal void CountUrgentBypassed(string queue) => Interlocked.Increment(ref EntryOf(queue).UrgentBypassed);

    /// <summary>Counts a producer held at <paramref name="queue"/> until the returned handle is disposed.</summary>
    internal Holding Hold(string queue)
    {
        var entry = EntryOf(queue);
        Interlocked.Increment(ref entry.HeldNow);
        return new Holding(entry);
    }

    Entry EntryOf(string queue) => _queues.GetOrAdd(queue, static _ => new Entry());

    /// <summary>A producer being held; disposing it stops counting it.</summary>
    internal readonly struct Holding : IDisposable
    {
        readonly Entry? _entry;

        internal Holding(Entry entry) => _entry = entry;

        public void Dispose()
        {
            if (_entry is not null)
                Interlocked.Decrement(ref _entry.HeldNow);
        }
    }

    /// <summary>The watched queues that consume <paramref name="messageTypeUrn"/>.</summary>
    public IReadOnlyList<string> QueuesConsuming(string messageTypeUrn) =>
        _queuesByMessageType.TryGetValue(messageTypeUrn, out var queues) ? queues : [];

    /// <summary>Completes when a new statement for <paramref name="queue"/> arrives.</summary>
    public Task NextStatement(string queue) => _queues.GetOrAdd(queue, _ => new Entry()).Changed;

    internal sealed class Entry
    {
        public long Throttled;
        public long Rejected;
        public long UrgentBypassed;
        public int HeldNow;

        TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public FlowControlStateChanged? Statement;
        public bool ExpiryReported;

        public Task Changed => Volatile.Read(ref _changed).Task;

        public void Signal() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
