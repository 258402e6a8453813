using System.Runtime.Serialization;

namespace MassTransit.Patterns.Multibroker;

/// <summary>Delivery: one send through the brokers in the strategy's order, with failover and hedging.</summary>
sealed partial class MultibrokerRuntime
{
    sealed record Attempt(MultibrokerBroker Broker, Task Task, CancellationTokenSource Timeout, long Started)
    {
        /// <summary>Its wait reached the hedge delay (a hedge started because of it).</summary>
        public bool Overdue { get; set; }
    }

    /// <summary>
    /// Sends a message through one broker (only the first when <paramref name="retry"/> is false): the
    /// first in the strategy's order that confirms within <see cref="MultibrokerOptions.SendTimeout"/>. A
    /// failed attempt counts against that broker's health and the next broker is tried with the same
    /// message id (the caller's pipe keeps it). An attempt without a confirm after
    /// <see cref="MultibrokerOptions.HedgeDelay"/> is hedged: the next broker gets the message too, the
    /// first confirm wins, and the slow attempt is cancelled and counted against its broker.
    /// </summary>
    public async Task<MultibrokerBroker> DeliverAsync(string? key, Func<IBus, int, CancellationToken, Task> attempt, Func<Guid?> messageId,
        CancellationToken cancellationToken, bool retry = true)
    {
        var inRotation = new bool[Brokers.Count];
        for (var i = 0; i < inRotation.Length; i++)
            inRotation[i] = Brokers[i].Health.InRotation;
        var order = _selection.Order(inRotation, key);
        var limit = !retry ? 1 : Options.MaxSendAttempts == 0 ? Brokers.Count : Options.MaxSendAttempts;
        // A keyed message under KeyHash is not hedged: per-key order comes first (it still fails over at SendTimeout).
        var hedgeDelay = retry && !(Options.Strategy == MultibrokerStrategy.KeyHash && key is not null) ? Options.HedgeDelay : null;
        var running = new List<Attempt>(2);
        var position = 0;
        var tried = 0;
        Exception? last = null;
        string? lastReason = null;
        MultibrokerBroker? failed = null;
        MultibrokerBroker? slow = null;
        var startNext = true;

        // The next broker in the order that has a bus, or null.
        MultibrokerBroker? NextCandidate(bool take)
        {
            // A held broker gets nothing, not even as the last resort: its operator took it out.
            for (var i = position; i < order.Length; i++)
                if (Brokers[order[i]].BusControl is not null && !Brokers[order[i]].Health.IsHeld)
                {
                    if (take)
                        position = i + 1;
                    return Brokers[order[i]];
                }
            if (take)
                position = order.Length;
            return null;
        }

        try
        {
            while (true)
            {
                if (startNext)
                {
                    startNext = false;
                    if (tried < limit && NextCandidate(take: true) is { } broker && broker.BusControl is { } bus)
                    {
                        if (failed is not null)
                        {
                            _metrics.Failover(failed.Name, broker.Name);
                            MultibrokerLog.SendFailedOver(_logger, messageId(), failed.Name, lastReason ?? "", broker.Name);
                            failed = null;
                        }
                        else if (slow is not null)
                        {
                            _metrics.Hedged(slow.Name, broker.Name);
                            MultibrokerLog.SendHedged(_logger, messageId(), slow.Name, hedgeDelay ?? TimeSpan.Zero, broker.Name);
                            slow = null;
                        }
                        tried++;
                        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        timeout.CancelAfter(Options.SendTimeout);
                        Task task;
                        try
                        {
                            task = attempt(bus, tried - 1, timeout.Token);
                        }
                        catch (Exception e)
                        {
                            task = Task.FromException(e);
                        }
                        running.Add(new Attempt(broker, task, timeout, _time.GetTimestamp()));
                    }
                    else if (running.Count == 0)
                        break;
                }

                // Completes when an attempt completes, and never throws itself (the attempts' outcomes are read below).
                Task any = running.Count == 1 ? Task.WhenAny(running[0].Task) : Task.WhenAny(running.Select(a => a.Task));
                if (hedgeDelay is { } delay && tried < limit && NextCandidate(take: false) is not null)
                {
                    var wait = delay - _time.GetElapsedTime(running[^1].Started);
                    var hedge = wait <= TimeSpan.Zero;
                    if (!hedge)
                    {
                        try
                        {
                            await any.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
                        }
                        catch (TimeoutException) when (!any.IsCompleted)
                        {
                            hedge = true;
                        }
                    }
                    if (hedge)
                    {
                        running[^1].Overdue = true;
                        slow = running[^1].Broker;
                        startNext = true;
                        continue;
                    }
                }
                else
                    await any.WaitAsync(cancellationToken).ConfigureAwait(false);

                // Settle what has completed: a confirm wins, a failure moves on to the next broker.
                foreach (var done in running.Where(a => a.Task.IsCompleted).ToArray())
                {
                    running.Remove(done);
                    done.Timeout.Dispose();
                    if (done.Task.IsCompletedSuccessfully)
                    {
                        done.Broker.Health.RecordSuccess();
                        done.Broker.CountSent();
                        NoteRotation(done.Broker, "send");
                        var losers = running.ToArray();
                        running.Clear();
                        foreach (var loser in losers)
                            Outpaced(loser, done.Broker);
                        return done.Broker;
                    }
                    var e = done.Task.Exception?.GetBaseException() ?? new OperationCanceledException("the attempt was cancelled");
                    if (cancellationToken.IsCancellationRequested)
                        throw new OperationCanceledException(cancellationToken);
                    if (!IsBrokerFault(e))
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
                    last = e;
                    lastReason = e is OperationCanceledException ? $"no confirm within {Options.SendTimeout}" : e.Message;
                    done.Broker.CountFailure();
                    if (done.Broker.Health.RecordFailure(lastReason))
                        NoteRotation(done.Broker, "send_failure");
                    failed = done.Broker;
                    slow = null;
                    startNext = true;
                }
            }
        }
        finally
        {
            foreach (var abandoned in running)
                Abandon(abandoned);
        }
        MultibrokerLog.SendFailed(_logger, messageId(), tried);
        throw new MultibrokerSendException(tried, Brokers.Select(Describe).ToArray(), last);
    }

    /// <summary>An attempt still waiting when another broker confirmed the message: cancelled, and a failure of its broker if it was hedged (overdue).</summary>
    void Outpaced(Attempt loser, MultibrokerBroker winner)
    {
        var waited = _time.GetElapsedTime(loser.Started);
        Abandon(loser);
        if (!loser.Overdue)
            return;
        loser.Broker.CountFailure();
        if (loser.Broker.Health.RecordFailure($"no confirm within {waited.TotalSeconds:0.0##} s while {winner.Name} confirmed the same message"))
            NoteRotation(loser.Broker, "slow");
    }

    static void Abandon(Attempt attempt)
    {
        attempt.Timeout.Cancel();
        _ = attempt.Task.ContinueWith(static (t, timeout) =>
        {
            _ = t.Exception;
            ((CancellationTokenSource)timeout!).Dispose();
        }, attempt.Timeout, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Faults of the message itself (it would fail on every broker) are not the broker's: no failover, no ejection.</summary>
    static bool IsBrokerFault(Exception e) =>
        e is not (ArgumentException or SerializationException or ConfigurationException or RequestException);
}
