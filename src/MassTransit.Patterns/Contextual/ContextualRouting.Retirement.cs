using System.Diagnostics;

namespace MassTransit.Patterns.Contextual;

/// <summary>Retirement: the idle loop, and the unbind, drain and delete of one context queue.</summary>
public abstract partial class ContextualRouting
{
    async Task IdleLoopAsync()
    {
        var interval = Options.EffectiveIdleCheckInterval;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = Stopwatch.GetTimestamp();
            foreach (var queue in _byQueue.Values.Where(q => !q.IsStatic && !q.IsBucket && q.State == ContextQueueState.Active).ToArray())
            {
                if (Interlocked.Read(ref queue.InFlight) == 0 && Stopwatch.GetElapsedTime(Interlocked.Read(ref queue.LastActivity), now) >= Options.IdleTimeout)
                {
                    try
                    {
                        await RetireAsync(queue, _stopping.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        }
    }

    async Task<bool> RetireAsync(ContextQueue queue, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (queue.State != ContextQueueState.Active)
                return false;
            queue.State = ContextQueueState.Retiring;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.DrainTimeout);
        var token = timeout.Token;
        var started = Stopwatch.GetTimestamp();
        try
        {
            // 1. Stop routing: unbind (broker) and let in-process sends already routed finish.
            await Transport.UnbindAsync(queue.Name, queue.RoutingKey, Options, token).ConfigureAwait(false);
            while (Interlocked.Read(ref queue.PendingSends) > 0)
                await Task.Delay(5, token).ConfigureAwait(false);

            // 2. Drain: consume what is left, then stop the endpoint; anything it handed back is drained again.
            while (true)
            {
                while (!await IsDrainedAsync(queue, token).ConfigureAwait(false))
                    await Task.Delay(20, token).ConfigureAwait(false);
                await queue.Handle!.StopAsync(token).ConfigureAwait(false);
                if (await Transport.GetReadyCountAsync(queue.Name, token).ConfigureAwait(false) is null or 0)
                    break;
                queue.Handle = _connector!.ConnectReceiveEndpoint(queue.Name, e => ConfigureContextEndpoint(e, queue));
                await queue.Handle.Ready.WaitAsync(token).ConfigureAwait(false);
            }

            // 3. Delete (only if empty) and forget: the context's next message goes to the default queue and creates it again;
            //    so does anything sent to the retired queue's own address (the transport forwards it to the default queue).
            await Transport.DeleteQueueAsync(queue.Name, Options, token).ConfigureAwait(false);
            // MassTransit keeps every connected endpoint's consume pipe specification for the bus's lifetime, and this
            // queue's activity filter is in it: the retired queue must not keep its stopped endpoint's handle reachable.
            queue.Handle = null;
            lock (_lock)
            {
                _byQueue.TryRemove(new KeyValuePair<string, ContextQueue>(queue.Name, queue));
                if (_byKey.TryRemove(new KeyValuePair<string, ContextQueue>(queue.RoutingKey, queue)))
                    _contextOfKey.TryRemove(queue.RoutingKey, out _);
            }
            ContextualLog.ContextRetired(_logger, queue.RoutingKey, queue.Name, Interlocked.Read(ref queue.Completed), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Metrics.Retired(Options.DefaultQueueName);
            Interlocked.Increment(ref _retired);
            return true;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            ContextualLog.RetireFailed(_logger, queue.Name, exception);
            return false;
        }
    }

    async Task<bool> IsDrainedAsync(ContextQueue queue, CancellationToken token)
    {
        if (Interlocked.Read(ref queue.InFlight) > 0)
            return false;
        if (await Transport.GetReadyCountAsync(queue.Name, token).ConfigureAwait(false) is { } ready)
            return ready == 0 && Interlocked.Read(ref queue.InFlight) == 0;
        return Interlocked.Read(ref queue.Completed) >= Interlocked.Read(ref queue.Routed);
    }
}
