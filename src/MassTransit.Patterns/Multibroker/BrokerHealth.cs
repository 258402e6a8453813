namespace MassTransit.Patterns.Multibroker;

/// <summary>Where a broker stands with the multibroker facade.</summary>
public enum BrokerState
{
    /// <summary>Its bus has not started yet (the broker was unreachable at start, or is starting).</summary>
    Starting,

    /// <summary>Connected and not ejected: in rotation.</summary>
    Healthy,

    /// <summary>Its bus reports the broker unreachable (connection lost, receive endpoints down): out of rotation.</summary>
    Disconnected,

    /// <summary>Sends failed (no confirm in time, connection error): out of rotation until the ejection time passes.</summary>
    Ejected
}

/// <summary>
/// The health of one broker: the bus's view of its connection (read every health check) and the
/// outcome of the sends made through it. A broker is in rotation when its bus is started and
/// connected and it is not ejected. <see cref="MultibrokerOptions.FailuresToEject"/> failed sends in a
/// row eject it for <see cref="MultibrokerOptions.EjectionTime"/>, doubled at each ejection without a
/// successful send in between (up to <see cref="MultibrokerOptions.MaxEjectionTime"/>), so a broker
/// that accepts connections but does not confirm is not retried at full rate.
/// </summary>
sealed class BrokerHealth(MultibrokerOptions options, TimeProvider time)
{
    readonly Lock _lock = new();
    bool _started;
    bool _connected;
    int _consecutiveFailures;
    int _ejections;
    long _ejectedUntil;

    /// <summary>Why the broker was last out of rotation (for logs and the showcase).</summary>
    public string? LastReason { get; private set; }

    public BrokerState State
    {
        get
        {
            lock (_lock)
            {
                if (!_started)
                    return BrokerState.Starting;
                if (!_connected)
                    return BrokerState.Disconnected;
                return time.GetTimestamp() < _ejectedUntil ? BrokerState.Ejected : BrokerState.Healthy;
            }
        }
    }

    public bool InRotation => State == BrokerState.Healthy;

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

    /// <summary>A send through this broker was confirmed.</summary>
    public void RecordSuccess()
    {
        if (Volatile.Read(ref _consecutiveFailures) == 0 && Volatile.Read(ref _ejections) == 0)
            return;
        lock (_lock)
        {
            _consecutiveFailures = 0;
            _ejections = 0;
        }
    }

    /// <summary>A send through this broker failed; returns true when this failure ejected it.</summary>
    public bool RecordFailure(string reason)
    {
        lock (_lock)
        {
            _consecutiveFailures++;
            if (_consecutiveFailures < options.FailuresToEject)
                return false;
            var now = time.GetTimestamp();
            if (now < _ejectedUntil)
                return false; // already out: a send in flight at the ejection failing too
            var factor = Math.Pow(2, Math.Min(_ejections, 30));
            var ejection = TimeSpan.FromTicks((long)Math.Min(options.MaxEjectionTime.Ticks, options.EjectionTime.Ticks * factor));
            _ejectedUntil = now + (long)(ejection.TotalSeconds * time.TimestampFrequency);
            _ejections++;
            _consecutiveFailures = 0;
            LastReason = reason;
            return true;
        }
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
}
