using System.Diagnostics;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The consume side: admission to the lanes in delivery order, and each lane taking its next message.</summary>
sealed partial class ThreadDelegateDispatcher
{
    /// <summary>
    /// The message with <paramref name="key"/> reached the lane filter. Returns its ticket: started when
    /// it may run now, otherwise with <see cref="DeliveryTicket.Turn"/> to wait on.
    /// </summary>
    public DeliveryTicket Arrive(ConsumeContext context, string key)
    {
        if (!context.ReceiveContext.TryGetPayload<DeliveryTicket>(out var ticket) || Volatile.Read(ref ticket.State) != Issued)
            ticket = new DeliveryTicket(); // no position (filter used without its receive part) or a second pass: admitted as it comes

        ticket.Key = key;
        ticket.ArrivedAt = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            var stream = ticket.Stream;
            if (stream is not null && ticket.Position >= stream.Cutoff)
            {
                // The endpoint is stopping and an earlier delivery is missing: this one goes back.
                ticket.State = Returned;
                _metrics.Returned(1);
                return ticket;
            }
            ticket.State = Arrived;
            if (stream is null)
                ForceAdmit(ticket);
            else if (ticket.Position < stream.Next)
            {
                // Its gap was skipped by the timeout: run it as it comes, and say so.
                _metrics.LateArrival();
                ForceAdmit(ticket);
            }
            else
                Sequence(stream, ticket);

            if (!ticket.Started)
                ticket.Turn = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        return ticket;
    }

    void ForceAdmit(DeliveryTicket ticket)
    {
        var lane = LaneFor(ticket.Key, out var keyState);
        if (!TryAdmit(ticket, lane, keyState, ignoreTotal: true))
            throw new InvalidOperationException("unreachable: admission ignoring the total bound always succeeds");
    }

    /// <summary>Under the lock: records an arrived or skipped position and admits whatever is now in order.</summary>
    void Sequence(SequenceStream stream, DeliveryTicket ticket)
    {
        if (ticket.Position == stream.Next && stream.Blocked is null && stream.Pending is not { Count: > 0 })
        {
            // The common case: the next position arrives in order.
            if (ticket.State == Skipped)
            {
                stream.Next++;
                return;
            }
            var lane = LaneFor(ticket.Key, out var keyState);
            if (TryAdmit(ticket, lane, keyState))
            {
                stream.Next++;
                return;
            }
        }
        if (ticket.Position < stream.Next)
            return; // a skipped position reported after its gap was skipped
        (stream.Pending ??= []).TryAdd(ticket.Position, ticket);
        Advance(stream);
    }

    /// <summary>Under the lock: admits the stream's positions in order until one is missing or the total buffer is full.</summary>
    void Advance(SequenceStream stream)
    {
        while (true)
        {
            DeliveryTicket? ticket = stream.Blocked;
            if (ticket is null && (stream.Pending is null || !stream.Pending.Remove(stream.Next, out ticket)))
                break;
            if (ticket.State == Skipped)
            {
                stream.Next++;
                continue;
            }
            var lane = LaneFor(ticket.Key, out var keyState);
            if (!TryAdmit(ticket, lane, keyState))
            {
                if (stream.Blocked is null)
                {
                    stream.Blocked = ticket;
                    _blocked.Add(stream);
                    _metrics.AdmissionPaused();
                }
                break;
            }
            if (stream.Blocked is not null)
            {
                stream.Blocked = null;
                _blocked.Remove(stream);
            }
            stream.Next++;
        }

        if (stream.Blocked is null && stream.Pending is { Count: > 0 })
            ArmGapTimer(stream);
        else if (stream.GapTimer is not null)
            stream.GapArmedAt = -1;
    }

    /// <summary>
    /// Under the lock: admits the message to its key's lane, where it starts at once if the lane is idle,
    /// waits on the lane if it has room, or else waits on its key (parked) until the lane makes room;
    /// a key with parked messages parks its later ones behind them. False when it would have to wait and
    /// the total buffer is full: then the stream pauses.
    /// </summary>
    bool TryAdmit(DeliveryTicket ticket, Lane lane, KeyState? keyState, bool ignoreTotal = false)
    {
        if (lane.Running == 0 && lane.Head is null && lane.Parked == 0)
        {
            Join(ticket, lane, keyState);
            Start(ticket, lane);
            return true;
        }
        if (!ignoreTotal && _totalWaiting >= _maxBuffered)
            return false;

        keyState = Join(ticket, lane, keyState);
        _totalWaiting++;
        _metrics.Buffered(+1);
        if (keyState.ParkedHead is null && lane.Waiting < _maxPerLane)
            Enqueue(ticket, lane);
        else
        {
            if (keyState.ParkedTail is null)
            {
                keyState.ParkedHead = ticket;
                lane.ParkedKeys.Enqueue(keyState);
            }
            else
                keyState.ParkedTail.NextInLane = ticket;
            keyState.ParkedTail = ticket;
            lane.Parked++;
            _metrics.Parked();
        }
        return true;
    }

    /// <summary>Under the lock: the ticket joins its key (the key is in flight on <paramref name="lane"/> while it has messages admitted).</summary>
    KeyState Join(DeliveryTicket ticket, Lane lane, KeyState? keyState)
    {
        if (keyState is null)
        {
            keyState = new KeyState(ticket.Key, lane);
            _keys.Add(ticket.Key, keyState);
            _metrics.KeysInFlight(+1);
        }
        keyState.InFlight++;
        ticket.KeyState = keyState;
        ticket.Lane = lane;
        return keyState;
    }

    static void Enqueue(DeliveryTicket ticket, Lane lane)
    {
        if (lane.Tail is null)
            lane.Head = ticket;
        else
            lane.Tail.NextInLane = ticket;
        lane.Tail = ticket;
        lane.Waiting++;
    }

    /// <summary>Under the lock: moves parked messages onto the lane while it has room, one key at a time in turn.</summary>
    void Refill(Lane lane)
    {
        while (lane.ParkedKeys.Count > 0 && lane.Waiting < _maxPerLane)
        {
            var keyState = lane.ParkedKeys.Dequeue();
            var ticket = keyState.ParkedHead!;
            keyState.ParkedHead = ticket.NextInLane;
            ticket.NextInLane = null;
            if (keyState.ParkedHead is null)
                keyState.ParkedTail = null;
            else
                lane.ParkedKeys.Enqueue(keyState);
            lane.Parked--;
            Enqueue(ticket, lane);
        }
    }

    /// <summary>Under the lock: the key's lane (sticky while the key is in flight), or the lane a new key would get.</summary>
    Lane LaneFor(string key, out KeyState? keyState)
    {
        if (_keys.TryGetValue(key, out keyState))
            return keyState.Lane;
        if (_options.Allocation == LaneAllocation.FixedHash)
            return _lanes[(int)(ThreadDelegateHash.Of(key) % (uint)_lanes.Length)];

        // Least loaded: fewest messages running, waiting or parked; ties go round the lanes.
        var best = _lanes[_rotor];
        var bestLoad = best.Load;
        for (var i = 1; i < _lanes.Length && bestLoad > 0; i++)
        {
            var lane = _lanes[(_rotor + i) % _lanes.Length];
            if (lane.Load < bestLoad)
            {
                best = lane;
                bestLoad = lane.Load;
            }
        }
        _rotor = (best.Index + 1) % _lanes.Length;
        return best;
    }

    void Start(DeliveryTicket ticket, Lane lane)
    {
        lane.Running = 1;
        ticket.Started = true;
        _metrics.LanesBusy(+1);
        ticket.Turn?.TrySetResult(true); // runs asynchronously: never inside this lock
    }

    /// <summary>The message's turn has come: records its wait and tells whether its key is held.</summary>
    public HeldState? Starting(DeliveryTicket ticket)
    {
        _metrics.Waited(Stopwatch.GetElapsedTime(ticket.ArrivedAt).TotalMilliseconds);
        var keyState = ticket.KeyState!;
        if (!Volatile.Read(ref keyState.Held))
            return null;
        lock (_lock)
        {
            if (!keyState.Held)
                return null;
            if (_options.HoldTimeout is { } timeout && _time.GetUtcNow() - keyState.HeldSince >= timeout)
            {
                Unhold(keyState);
                return null;
            }
            return new HeldState(keyState.Key, keyState.HeldBy);
        }
    }

    /// <summary>The message has left its lane (processed, failed, or held): the lane takes its next message.</summary>
    public void Finish(DeliveryTicket ticket, bool failed, Guid? messageId)
    {
        lock (_lock)
        {
            var lane = ticket.Lane!;
            var keyState = ticket.KeyState!;
            lane.Running = 0;
            _metrics.LanesBusy(-1);
            keyState.InFlight--;
            if (failed && _options.FailedKey == FailedKeyBehavior.Hold && !keyState.Held)
            {
                keyState.HeldBy = messageId;
                keyState.HeldSince = _time.GetUtcNow();
                Volatile.Write(ref keyState.Held, true);
                _metrics.KeysHeld(+1);
                LogKeyHeld(Logger, Endpoint, keyState.Key, messageId);
            }
            if (keyState.InFlight == 0 && !keyState.Held)
            {
                _keys.Remove(keyState.Key);
                _metrics.KeysInFlight(-1);
            }
            Refill(lane);
            if (lane.Head is { } next)
            {
                lane.Head = next.NextInLane;
                if (lane.Head is null)
                    lane.Tail = null;
                next.NextInLane = null;
                lane.Waiting--;
                _totalWaiting--;
                _metrics.Buffered(-1);
                Start(next, lane);
                Refill(lane);
            }
            for (var i = _blocked.Count - 1; i >= 0 && i < _blocked.Count; i--)
                Advance(_blocked[i]);
        }
    }

    void Unhold(KeyState keyState)
    {
        Volatile.Write(ref keyState.Held, false);
        keyState.HeldBy = null;
        _metrics.KeysHeld(-1);
        if (keyState.InFlight == 0)
        {
            _keys.Remove(keyState.Key);
            _metrics.KeysInFlight(-1);
        }
    }

    public bool Release(string key)
    {
        lock (_lock)
        {
            if (!_keys.TryGetValue(key, out var keyState) || !keyState.Held)
                return false;
            Unhold(keyState);
        }
        LogKeyReleased(Logger, Endpoint, key);
        return true;
    }

    public IReadOnlyList<HeldKey> HeldKeys()
    {
        lock (_lock)
            return _keys.Values.Where(k => k.Held).Select(k => new HeldKey(Endpoint, k.Key, k.HeldBy, k.HeldSince)).ToArray();
    }

    /// <summary>A snapshot for tests and diagnostics.</summary>
    public ThreadDelegateSnapshot Snapshot()
    {
        lock (_lock)
            return new ThreadDelegateSnapshot(
                _lanes.Count(l => l.Running > 0),
                _keys.Count,
                _totalWaiting,
                _lanes.Select(l => l.Waiting).ToArray(),
                _keys.Values.Count(k => k.Held),
                _lanes.Sum(l => l.Parked));
    }
}
