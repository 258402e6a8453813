namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// The health of one broker: the bus's view of its connection (read every health check), the outcome
/// of the sends made through it, and the probes (a real round trip with a short timeout, see
/// <see cref="MultibrokerTransport.ProbeAsync"/>). A broker is in rotation when its bus is started and
/// connected, it is not ejected, and no probe is owed. <see cref="MultibrokerOptions.FailuresToEject"/>
/// failed sends in a row (or one failed probe) eject it for <see cref="MultibrokerOptions.EjectionTime"/>,
/// doubled at each ejection without a confirmed send in between (up to
/// <see cref="MultibrokerOptions.MaxEjectionTime"/>). When the ejection time is over the broker is
/// <see cref="BrokerState.Probing"/>: still out, until a probe or a confirmed send gets through; a
/// failed probe ejects it again, for longer. So a hung broker (connection open, nothing answering) is
/// never re-admitted on a timer alone. An operator's hold (<see cref="Hold"/>) keeps the broker
/// <see cref="BrokerState.Held"/> whatever its health says, until <see cref="Release"/>.
/// </summary>
sealed class BrokerHealth(MultibrokerOptions options, TimeProvider time)
{
    readonly Lock _lock = new();
    bool _started;
    bool _connected;
    int _consecutiveFailures;
    int _ejections;
    long _ejectedUntil;
    bool _owesProbe;
    long _lastProbe;
    int _probing;
    string? _held;
    long _leftRotation;
    long _rejoined;

    /// <summary>Why the broker was last out of rotation (for logs and the showcase).</summary>
    public string? LastReason { get; private set; }

    public BrokerState State
    {
        get
        {
            lock (_lock)
                return StateAt(time.GetTimestamp());
        }
    }

    BrokerState StateAt(long now)
    {
        if (_held is not null)
            return BrokerState.Held;
        if (!_started)
            return BrokerState.Starting;
        if (!_connected)
            return BrokerState.Disconnected;
        if (now < _ejectedUntil)
            return BrokerState.Ejected;
        return _owesProbe ? BrokerState.Probing : BrokerState.Healthy;
    }

    public bool InRotation => State == BrokerState.Healthy;

    /// <summary>Times the broker left the rotation (ejected, disconnected or held), as logged and counted by the runtime.</summary>
    public long LeftRotation => Interlocked.Read(ref _leftRotation);

    /// <summary>Times the broker came back into the rotation.</summary>
    public long Rejoined => Interlocked.Read(ref _rejoined);

    /// <summary>Counts a change of rotation the runtime noted (once per change).</summary>
    public void CountRotationChange(bool inRotation)
    {
        if (inRotation)
            Interlocked.Increment(ref _rejoined);
        else
            Interlocked.Increment(ref _leftRotation);
    }

    /// <summary>True while an operator holds the broker out of rotation (read on the send path without the lock).</summary>
    public bool IsHeld => Volatile.Read(ref _held) is not null;

    /// <summary>
    /// Holds the broker out of rotation until <see cref="Release"/>: no probe or confirmed send lifts it. Returns false
    /// when it was held already (the first reason stays).
    /// </summary>
    public bool Hold(string reason)
    {
        lock (_lock)
        {
            if (_held is not null)
                return false;
            Volatile.Write(ref _held, reason);
            LastReason = reason;
            return true;
        }
    }

    /// <summary>
    /// Ends a hold: the normal health rules apply again (in rotation at once when connected, not ejected and no probe
    /// is owed). Returns false when it was not held.
    /// </summary>
    public bool Release()
    {
        lock (_lock)
        {
            if (_held is null)
                return false;
            Volatile.Write(ref _held, null);
            return true;
        }
    }

    /// <summary>The bus started (true) or was stopped or failed to start (false).</summary>
    public void Started(bool started, string? reason = null)
    {
        lock (_lock)
        {
            _started = started;
            _connected = started;
            if (!started)
                LastReason = reason ?? "not started";
        }
    }

    /// <summary>What the bus says of its connection at a health check.</summary>
    public void Observe(bool connected, string? reason)
    {
        lock (_lock)
        {
            _connected = connected;
            if (!connected)
                LastReason = reason ?? "disconnected";
        }
    }

    /// <summary>A send through this broker was confirmed: the broker answers (a probe it owed is settled).</summary>
    public void RecordSuccess()
    {
        if (Volatile.Read(ref _consecutiveFailures) == 0 && Volatile.Read(ref _ejections) == 0 && !Volatile.Read(ref _owesProbe))
            return;
        lock (_lock)
        {
            _consecutiveFailures = 0;
            _ejections = 0;
            _owesProbe = false;
        }
    }

    /// <summary>A send through this broker failed; returns true when this failure ejected it.</summary>
    public bool RecordFailure(string reason)
    {
        lock (_lock)
        {
            _consecutiveFailures++;
            if (_consecutiveFailures < options.FailuresToEject && !_owesProbe)
                return false;
            return EjectLocked(reason);
        }
    }

    bool EjectLocked(string reason)
    {
        var now = time.GetTimestamp();
        if (now < _ejectedUntil)
            return false; // already out: a send in flight at the ejection failing too
        var factor = Math.Pow(2, Math.Min(_ejections, 30));
        var ejection = TimeSpan.FromTicks((long)Math.Min(options.MaxEjectionTime.Ticks, options.EjectionTime.Ticks * factor));
        _ejectedUntil = now + (long)(ejection.TotalSeconds * time.TimestampFrequency);
        _ejections++;
        _consecutiveFailures = 0;
        _owesProbe = true;
        LastReason = reason;
        return true;
    }

    /// <summary>How long the current ejection lasts from now (zero when not ejected).</summary>
    public TimeSpan EjectedFor
    {
        get
        {
            lock (_lock)
            {
                var left = _ejectedUntil - time.GetTimestamp();
                return left <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)left / time.TimestampFrequency);
            }
        }
    }

    /// <summary>
    /// Whether a probe should start now (and if so, marks one in flight): a broker that owes one once
    /// its ejection is over, or a broker in rotation every <see cref="MultibrokerOptions.ProbeInterval"/>.
    /// At most one probe at a time; end it with <see cref="ProbeSucceeded"/> or <see cref="ProbeFailed"/>.
    /// </summary>
    public bool TryBeginProbe()
    {
        lock (_lock)
        {
            var now = time.GetTimestamp();
            var state = StateAt(now);
            var due = state == BrokerState.Probing
                || (state == BrokerState.Healthy && options.ProbeInterval is { } interval && time.GetElapsedTime(_lastProbe, now) >= interval);
            if (!due || _probing != 0)
                return false;
            _probing = 1;
            _lastProbe = now;
            return true;
        }
    }

    /// <summary>The probe got its answer: the broker answers, a probe it owed is settled.</summary>
    public void ProbeSucceeded()
    {
        lock (_lock)
        {
            _probing = 0;
            _owesProbe = false;
        }
    }

    /// <summary>The probe failed or timed out: the broker leaves (or stays out of) the rotation, for longer each time; true when this ejected it.</summary>
    public bool ProbeFailed(string reason)
    {
        lock (_lock)
        {
            _probing = 0;
            return EjectLocked(reason);
        }
    }
}
