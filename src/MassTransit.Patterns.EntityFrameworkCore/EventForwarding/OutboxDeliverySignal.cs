using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// Between this process's commits of outbox rows of <typeparamref name="TDbContext"/> and its delivery
/// service: committed rows handed over in memory (a bounded queue of groups, so the service sends them
/// without reading them back), and a wake-up with a request to read the table for commits it was not
/// handed. The table stays the source of truth: whatever is not handed, or is dropped, is found by
/// the service's next read of the table.
/// </summary>
sealed class OutboxDeliverySignal<TDbContext>
    where TDbContext : DbContext
{
    readonly ConcurrentQueue<OutboxEntry[]> _handed = new();
    TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _capacity;
    int _count;
    int _overflowed;
    int _sweep;

    /// <summary>
    /// Rows were committed that were not handed over (another transaction's, e.g. an API handler's inside
    /// its own transaction): wake the delivery service and have it read the table.
    /// </summary>
    public void Notify()
    {
        Volatile.Write(ref _sweep, 1);
        Wake();
    }

    /// <summary>
    /// These rows were committed (their sequence numbers are known): the delivery service may send them
    /// without reading them back. Rows of several groups may come in one call (a batch); each group is
    /// queued in position order. Ignored while this process does not hold the delivery lease (the
    /// holder reads them from the table); dropped when the queue is full, and then the table is read.
    /// </summary>
    public void Handoff(IReadOnlyList<OutboxEntry> committedRows)
    {
        ArgumentNullException.ThrowIfNull(committedRows);
        if (committedRows.Count == 0)
            return;
        var capacity = Volatile.Read(ref _capacity);
        if (capacity == 0)
            return;

        foreach (var group in Groups(committedRows))
        {
            // A row without its sequence number was not saved: only the table can tell.
            if (Array.Exists(group, r => r.SequenceNumber <= 0))
            {
                Drop();
                continue;
            }
            if (Interlocked.Increment(ref _count) > capacity)
            {
                Interlocked.Decrement(ref _count);
                Drop();
                continue;
            }
            _handed.Enqueue(group);
        }
        Wake();
    }

    static IEnumerable<OutboxEntry[]> Groups(IReadOnlyList<OutboxEntry> rows)
    {
        var first = rows[0].OutboxId;
        var single = true;
        for (var i = 1; i < rows.Count && single; i++)
            single = rows[i].OutboxId == first;
        if (single)
            return [Sorted([.. rows])];
        return rows.GroupBy(r => r.OutboxId).Select(g => Sorted(g.ToArray()));

        static OutboxEntry[] Sorted(OutboxEntry[] group)
        {
            Array.Sort(group, static (a, b) => a.Position != b.Position ? a.Position.CompareTo(b.Position) : a.SequenceNumber.CompareTo(b.SequenceNumber));
            return group;
        }
    }

    // From here until the next read of the table nothing handed over is delivered from memory: a later
    // part of a dropped group (an API handler saving twice in one scope) must not overtake it.
    void Drop()
    {
        Volatile.Write(ref _overflowed, 1);
        Volatile.Write(ref _sweep, 1);
    }

    void Wake() => Volatile.Read(ref _signal).TrySetResult();

    /// <summary>Groups handed over and not yet taken.</summary>
    internal int Pending => Volatile.Read(ref _count);

    /// <summary>Whether the table must be read before anything more is delivered from memory (drops, failures, foreign commits).</summary>
    internal bool SweepRequested => Volatile.Read(ref _sweep) == 1;

    /// <summary>Asks for a read of the table at the next round (a failed delivery, a read cut by its limit).</summary>
    internal void RequestSweep() => Volatile.Write(ref _sweep, 1);

    /// <summary>
    /// The delivery service holds the lease: accept up to <paramref name="capacity"/> groups. Called
    /// before its first read of the table, so a commit handed over before is found by that read.
    /// </summary>
    internal void Accept(int capacity) => Volatile.Write(ref _capacity, capacity);

    /// <summary>The delivery service does not deliver (lease lost, stopping): ignore handovers and forget the queued ones.</summary>
    internal void Refuse()
    {
        Volatile.Write(ref _capacity, 0);
        Discard();
    }

    /// <summary>
    /// Starts a read of the table: clears the requests and forgets the queued groups, which were
    /// committed before the read starts and so are found by it.
    /// </summary>
    internal void BeginSweep()
    {
        Volatile.Write(ref _sweep, 0);
        Volatile.Write(ref _overflowed, 0);
        Discard();
    }

    void Discard()
    {
        while (_handed.TryDequeue(out _))
            Interlocked.Decrement(ref _count);
    }

    /// <summary>
    /// Takes up to <paramref name="max"/> queued groups, oldest first. Takes none once a handover was
    /// dropped (the next read of the table delivers them in order).
    /// </summary>
    internal void Take(int max, List<OutboxEntry[]> into)
    {
        while (into.Count < max && _handed.TryDequeue(out var group))
        {
            Interlocked.Decrement(ref _count);
            // Checked after the dequeue: a drop before this group's handover is seen here.
            if (Volatile.Read(ref _overflowed) == 1)
                return;
            into.Add(group);
        }
    }

    /// <summary>Arms the signal before the delivery service looks for rows, so that a commit during the look is not missed.</summary>
    internal void Arm()
    {
        var current = Volatile.Read(ref _signal);
        if (current.Task.IsCompleted)
            Interlocked.CompareExchange(ref _signal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), current);
    }

    /// <summary>Waits for a notification or <paramref name="timeout"/>, whichever comes first.</summary>
    internal async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await Volatile.Read(ref _signal).Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }
}
