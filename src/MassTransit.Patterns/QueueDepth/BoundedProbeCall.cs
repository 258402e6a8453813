using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.QueueDepth;

/// <summary>
/// Calls a depth probe for one queue with a deadline that holds whatever the probe does. The probe
/// gets a token cancelled at the deadline, but the caller does not rely on it: at the deadline it
/// stops waiting and the reading fails with <see cref="QueueDepthFailure.Timeout"/>, and an answer
/// that comes later is dropped. A call still running from an earlier reading is not joined nor
/// doubled: the reading fails at once, so a probe that ignores its token costs one hung call, not
/// one per poll. One instance per (caller, queue); thread-safe.
/// </summary>
sealed class BoundedProbeCall(IQueueDepthProbe probe, string queue, TimeProvider time)
{
    sealed record Pending(Task Call, long Since);

    Pending? _pending;

    /// <summary>Reads the depth within <paramref name="timeout"/>; the caller's <paramref name="cancellationToken"/> still cancels (OperationCanceledException).</summary>
    /// <exception cref="QueueDepthProbeException">The probe failed, timed out, or is still busy with an earlier reading.</exception>
    public async Task<QueueDepthSample> ReadAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Volatile.Read(ref _pending) is { Call.IsCompleted: false } pending)
        {
            var since = time.GetElapsedTime(pending.Since);
            throw new QueueDepthProbeException(queue, probe.Name, QueueDepthFailure.Timeout,
                $"no answer within {timeout}: the reading started {since.TotalSeconds:0.0} s ago has still not returned (the probe ignores its cancellation).");
        }

        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var started = time.GetTimestamp();
        Task<QueueDepthSample> call;
        try
        {
            call = probe.GetDepthAsync(queue, linked.Token);
        }
        catch (Exception exception)
        {
            call = Task.FromException<QueueDepthSample>(exception);
        }

        try
        {
            return await call.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!call.IsCompleted)
        {
            Abandon(call, started);
            throw TimedOut(timeout, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (!call.IsCompleted)
                Abandon(call, started);
            throw;
        }
        catch (OperationCanceledException exception) when (deadline.IsCancellationRequested)
        {
            // The probe honoured the deadline's token.
            throw TimedOut(timeout, exception);
        }
    }

    QueueDepthProbeException TimedOut(TimeSpan timeout, Exception? inner) =>
        new(queue, probe.Name, QueueDepthFailure.Timeout, $"no answer within {timeout}.", inner);

    void Abandon(Task<QueueDepthSample> call, long started)
    {
        Volatile.Write(ref _pending, new Pending(call, started));
        // Whatever it ends with is dropped; observed so that it is not reported as unobserved.
        AbandonedTask.Observe(call);
    }
}
