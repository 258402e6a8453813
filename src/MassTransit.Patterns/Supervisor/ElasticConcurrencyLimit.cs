namespace MassTransit.Patterns.Supervisor;

/// <summary>
/// A concurrency limit whose size changes at run time. Raising it lets waiting callers in at once
/// (first come, first served); lowering it never touches work already admitted: in-flight work
/// finishes, and nobody new enters until fewer than the new limit are active.
/// </summary>
/// <remarks>
/// MassTransit's own <c>ConcurrencyLimitFilter</c> shrinks by taking permits with
/// <c>await WaitAsync</c>, which blocks the caller until work drains and keeps counting from the
/// limit it was built with, so a second change miscounts. Here a change is a number under a lock:
/// instant, and any sequence of changes is exact.
/// </remarks>
internal sealed class ElasticConcurrencyLimit
{
    readonly object _lock = new();
    readonly LinkedList<TaskCompletionSource> _waiters = new();
    int _limit;
    int _active;
    int _peakActive;

    /// <summary>Creates the limit at <paramref name="limit"/>.</summary>
    public ElasticConcurrencyLimit(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        _limit = limit;
    }

    /// <summary>How many may be active at once.</summary>
    public int Limit
    {
        get
        {
            lock (_lock)
                return _limit;
        }
    }

    /// <summary>How many are active (admitted and not yet released). Can exceed <see cref="Limit"/> right after it was lowered.</summary>
    public int Active
    {
        get
        {
            lock (_lock)
                return _active;
        }
    }

    /// <summary>How many wait to be admitted.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
                return _waiters.Count;
        }
    }

    /// <summary>The most that were active at once since creation or <see cref="ResetPeak"/>.</summary>
    public int PeakActive
    {
        get
        {
            lock (_lock)
                return _peakActive;
        }
    }

    /// <summary>Starts a new peak from the current active count.</summary>
    public void ResetPeak()
    {
        lock (_lock)
            _peakActive = _active;
    }

    /// <summary>Changes the limit. Raising admits waiters now; lowering lets active work finish and admits no one until below it.</summary>
    public void SetLimit(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        List<TaskCompletionSource>? admitted;
        lock (_lock)
        {
            _limit = limit;
            admitted = AdmitWaiters();
        }
        Complete(admitted);
    }

    /// <summary>Waits until the caller may enter; call <see cref="Release"/> exactly once after it completes.</summary>
    /// <exception cref="OperationCanceledException">The wait was cancelled; the caller did not enter and must not release.</exception>
    public Task WaitAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource waiter;
        LinkedListNode<TaskCompletionSource> node;
        lock (_lock)
        {
            if (_active < _limit && _waiters.Count == 0)
            {
                Enter();
                return Task.CompletedTask;
            }
            cancellationToken.ThrowIfCancellationRequested();
            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            node = _waiters.AddLast(waiter);
        }
        return cancellationToken.CanBeCanceled ? WaitCancellableAsync(node, cancellationToken) : waiter.Task;
    }

    /// <summary>Leaves: the next waiter enters if the limit allows.</summary>
    public void Release()
    {
        List<TaskCompletionSource>? admitted;
        lock (_lock)
        {
            if (_active == 0)
                throw new InvalidOperationException("Release was called more often than entries were admitted.");
            _active--;
            admitted = AdmitWaiters();
        }
        Complete(admitted);
    }

    async Task WaitCancellableAsync(LinkedListNode<TaskCompletionSource> node, CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(static state =>
                     {
                         var (limit, waiter, token) = ((ElasticConcurrencyLimit, LinkedListNode<TaskCompletionSource>, CancellationToken))state!;
                         limit.Cancel(waiter, token);
                     }, (this, node, cancellationToken)).ConfigureAwait(false))
        {
            await node.Value.Task.ConfigureAwait(false);
        }
    }

    void Cancel(LinkedListNode<TaskCompletionSource> node, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            // Already admitted: the caller entered and will release as usual.
            if (node.List is null)
                return;
            _waiters.Remove(node);
        }
        node.Value.TrySetCanceled(cancellationToken);
    }

    void Enter()
    {
        _active++;
        if (_active > _peakActive)
            _peakActive = _active;
    }

    List<TaskCompletionSource>? AdmitWaiters()
    {
        List<TaskCompletionSource>? admitted = null;
        while (_active < _limit && _waiters.First is { } first)
        {
            _waiters.RemoveFirst();
            Enter();
            (admitted ??= []).Add(first.Value);
        }
        return admitted;
    }

    static void Complete(List<TaskCompletionSource>? admitted)
    {
        if (admitted is null)
            return;
        foreach (var waiter in admitted)
            waiter.TrySetResult();
    }
}
