using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>Wakes this process's outbox delivery service when a local transaction committed outbox rows of <typeparamref name="TDbContext"/>.</summary>
sealed class OutboxDeliverySignal<TDbContext>
    where TDbContext : DbContext
{
    TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Rows were committed: wake the delivery service now.</summary>
    public void Notify() => Volatile.Read(ref _signal).TrySetResult();

    /// <summary>
    /// These rows were committed (their sequence numbers are known): the delivery service may send them
    /// without reading them back. The table stays the source of truth; a handover that is dropped is
    /// found by the next read.
    /// </summary>
    public void Handoff(IReadOnlyList<OutboxEntry> committedRows)
    {
        ArgumentNullException.ThrowIfNull(committedRows);
        if (committedRows.Count > 0)
            Notify();
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
