namespace MassTransit.Patterns.Multibroker;

/// <summary>One broker of the multibroker: its name, weight, bus and health.</summary>
public sealed class MultibrokerBroker
{
    long _sent;
    long _received;
    long _sendFailures;
    IBusControl? _bus;
    readonly MultibrokerMetrics _metrics;

    internal MultibrokerBroker(int index, string name, int weight, MultibrokerTransport transport, BrokerHealth health, MultibrokerMetrics metrics)
    {
        _metrics = metrics;
        Index = index;
        Name = name;
        Weight = weight;
        Transport = transport;
        Health = health;
    }

    /// <summary>The broker's position in the configuration.</summary>
    public int Index { get; }

    /// <summary>The broker's name, as configured.</summary>
    public string Name { get; }

    /// <summary>The broker's weight (Weighted and KeyHash strategies).</summary>
    public int Weight { get; }

    /// <summary>Where the broker stands: starting, healthy (in rotation), disconnected, ejected, probing or held.</summary>
    public BrokerState State => Health.State;

    /// <summary>How long its current ejection lasts from now (zero when it is not <see cref="BrokerState.Ejected"/>).</summary>
    public TimeSpan EjectionTimeLeft => Health.EjectedFor;

    /// <summary>Times the broker left the rotation (ejected, disconnected or held) since the multibroker was created.</summary>
    public long Ejections => Health.LeftRotation;

    /// <summary>Times the broker came back into the rotation.</summary>
    public long Rejoins => Health.Rejoined;

    /// <summary>Why the broker was last out of rotation.</summary>
    public string? LastFailure => Health.LastReason;

    /// <summary>The broker's started bus, or null while it has not started. Use it to reach this broker only (e.g. a request pinned to it).</summary>
    public IBus? Bus => Volatile.Read(ref _bus);

    /// <summary>Messages sent or published through this broker and confirmed by it.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Messages received from this broker by its bus.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Send attempts on this broker that failed before its confirm.</summary>
    public long SendFailures => Interlocked.Read(ref _sendFailures);

    internal MultibrokerTransport Transport { get; }

    internal BrokerHealth Health { get; }

    internal IBusControl? BusControl => Volatile.Read(ref _bus);

    int _inRotation;
    long _nextStartAt;

    /// <summary>Records whether the broker is in rotation now; true when that changed (so that each change is logged once).</summary>
    internal bool SwapRotation(bool inRotation) => Interlocked.Exchange(ref _inRotation, inRotation ? 1 : 0) != (inRotation ? 1 : 0);

    /// <summary>When the next start of a bus that did not start is due (a timestamp), or 0 while a start is under way or the bus runs.</summary>
    internal long NextStartAt
    {
        get => Interlocked.Read(ref _nextStartAt);
        set => Interlocked.Exchange(ref _nextStartAt, value);
    }

    internal void Attach(IBusControl? bus) => Volatile.Write(ref _bus, bus);

    internal void CountSent()
    {
        Interlocked.Increment(ref _sent);
        _metrics.Sent(Name);
    }

    internal void CountReceived()
    {
        Interlocked.Increment(ref _received);
        _metrics.Received(Name);
    }

    internal void CountFailure()
    {
        Interlocked.Increment(ref _sendFailures);
        _metrics.SendFailed(Name);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({State})";
}
