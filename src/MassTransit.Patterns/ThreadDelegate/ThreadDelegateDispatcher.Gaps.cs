
namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>Positions that never arrive: skipped after the gap timeout, or (stopping, RabbitMQ) returned with everything after them.</summary>
sealed partial class ThreadDelegateDispatcher
{
    TimeSpan GapTimeout(SequenceStream stream) => stream.Stopping && _options.SequenceGapTimeout > TimeSpan.FromMilliseconds(100)
        ? TimeSpan.FromMilliseconds(100)
        : _options.SequenceGapTimeout;

    void ArmGapTimer(SequenceStream stream)
    {
        if (stream.GapArmedAt == stream.Next)
            return;
        stream.GapArmedAt = stream.Next;
        stream.GapTimer ??= _time.CreateTimer(static s => ((GapCallback)s!).Fire(), new GapCallback(this, stream), Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        stream.GapTimer.Change(GapTimeout(stream), Timeout.InfiniteTimeSpan);
    }

    void GapExpired(SequenceStream stream)
    {
        lock (_lock)
        {
            if (stream.GapArmedAt != stream.Next || stream.Blocked is not null || stream.Pending is not { Count: > 0 })
                return; // progress was made, or nothing waits
            stream.GapArmedAt = -1;
            if (stream.Stopping && stream != _arrival && _returnsCanceled)
            {
                // The transport dropped the missing delivery while stopping; it goes back to the queue. Every
                // later delivery goes back too, unprocessed, so none of its key's successors runs before it.
                stream.Cutoff = stream.Next;
                var returned = 0;
                foreach (var ticket in stream.Pending.Values)
                    if (ticket.State == Arrived)
                    {
                        ticket.State = Returned;
                        ticket.Turn?.TrySetResult(false);
                        returned++;
                    }
                stream.Pending.Clear();
                _metrics.Returned(returned);
                LogReturnedAtStop(Logger, Endpoint, stream.Next, returned);
                return;
            }
            var first = stream.Pending.Keys.Min();
            var skipped = first - stream.Next;
            _metrics.GapSkipped(skipped);
            LogGapSkipped(Logger, Endpoint, stream.Next, first - 1, GapTimeout(stream));
            stream.Next = first;
            Advance(stream);
        }
    }

    /// <summary>The endpoint is stopping: deliveries the transport dropped will not come, so gaps wait only briefly.</summary>
    public void Stopping()
    {
        lock (_gate)
            _settled = false; // a restarted in-memory endpoint has new readers: a new start-up batch
        AfterGate();
        lock (_lock)
            foreach (var stream in _streams.Values.Append(_arrival))
            {
                stream.Stopping = true;
                if (stream.GapTimer is not null && stream.GapArmedAt >= 0)
                    stream.GapTimer.Change(GapTimeout(stream), Timeout.InfiniteTimeSpan);
            }
    }

    /// <summary>The endpoint is ready again (a restart): the arrival stream waits for gaps as long as configured again.</summary>
    public void Ready()
    {
        lock (_lock)
            _arrival.Stopping = false;
    }

    sealed class GapCallback(ThreadDelegateDispatcher dispatcher, SequenceStream stream)
    {
        public void Fire() => dispatcher.GapExpired(stream);
    }
}
