using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>How a new key is given a lane.</summary>
public enum LaneAllocation
{
    /// <summary>
    /// A key with messages in flight stays on its lane (the allocation map); a key with nothing in
    /// flight goes to the lane with the fewest messages running or waiting. Unrelated keys rarely
    /// wait behind each other. The default.
    /// </summary>
    LeastLoaded,

    /// <summary>A key always goes to lane <c>hash(key) % Workers</c>, like a partitioner: colliding keys wait behind each other.</summary>
    FixedHash
}

/// <summary>What happens to a key whose message finally failed (after the retries configured inside the lane).</summary>
public enum FailedKeyBehavior
{
    /// <summary>The failed message faults to the error queue; the key's next messages go on. The default.</summary>
    Release,

    /// <summary>
    /// The failed message faults to the error queue and the key is held: its later messages are not
    /// consumed but fault too, in order, with <see cref="ThreadDelegateKeyHeldException"/>, until the key
    /// is released (<see cref="ThreadDelegateControl.Release"/>) or <see cref="ThreadDelegateOptions.HoldTimeout"/> passes.
    /// Other keys are not affected.
    /// </summary>
    Hold
}

/// <summary>What happens to a message whose key selector returns null or an empty string.</summary>
public enum MissingKeyBehavior
{
    /// <summary>The message faults with <see cref="ThreadDelegateKeyMissingException"/> and is moved to the error queue (kept, not lost). The default.</summary>
    Fault,

    /// <summary>The message runs under <see cref="ThreadDelegateOptions.DefaultKey"/>: messages without a key are ordered among themselves.</summary>
    DefaultLane
}

/// <summary>Options of the thread delegate pattern on one receive endpoint (see <c>UseThreadDelegate</c>).</summary>
public sealed class ThreadDelegateOptions : IPatternOptions
{
    readonly List<ThreadDelegateKeySelector> _selectors = [];

    /// <summary>Number of lanes: messages of different keys run in parallel on up to this many lanes. Default 8.</summary>
    public int Workers { get; set; } = 8;

    /// <summary>How a key is given a lane. Default <see cref="LaneAllocation.LeastLoaded"/>.</summary>
    public LaneAllocation Allocation { get; set; } = LaneAllocation.LeastLoaded;

    /// <summary>
    /// Messages delivered and waiting for their turn, across all keys (on a lane or on their key). The
    /// endpoint's concurrent message limit (and at least its prefetch) is set to <c>Workers + MaxBuffered</c>:
    /// the transport's unacknowledged deliveries are the buffer, so memory stays bounded whatever the key
    /// distribution. It is also how much backlog a hot key can build before it slows the other keys: past
    /// it every delivery slot holds a message of the hot key, and the others advance at the hot key's rate.
    /// Default <c>64 × Workers</c> (at most 4096) when null.
    /// </summary>
    public int? MaxBuffered { get; set; }

    /// <summary>
    /// Messages waiting on one lane. When a key's lane is full, its further messages wait on the key
    /// (inside <see cref="MaxBuffered"/>, in order) and the lane takes them as it makes room; other keys
    /// are admitted meanwhile. Keeps the keys that share a lane with a hot key from waiting behind all of
    /// its backlog. Default 8.
    /// </summary>
    public int MaxBufferedPerLane { get; set; } = 8;

    /// <summary>What a finally failed message does to its key. Default <see cref="FailedKeyBehavior.Release"/>.</summary>
    public FailedKeyBehavior FailedKey { get; set; } = FailedKeyBehavior.Release;

    /// <summary>With <see cref="FailedKeyBehavior.Hold"/>: release a held key automatically after this long. Null: only by <see cref="Control"/>.</summary>
    public TimeSpan? HoldTimeout { get; set; }

    /// <summary>Reads the endpoint's state and lists and releases held keys; may be shared by several endpoints. Required with <see cref="FailedKeyBehavior.Hold"/> unless <see cref="HoldTimeout"/> is set.</summary>
    public ThreadDelegateControl? Control { get; set; }

    /// <summary>What a message without a key does. Default <see cref="MissingKeyBehavior.Fault"/>.</summary>
    public MissingKeyBehavior MissingKey { get; set; } = MissingKeyBehavior.Fault;

    /// <summary>The key used for messages without one when <see cref="MissingKey"/> is <see cref="MissingKeyBehavior.DefaultLane"/>.</summary>
    public string DefaultKey { get; set; } = "(no key)";

    /// <summary>
    /// With an exact delivery order (RabbitMQ delivery tags): how long a delivery waits for an earlier
    /// one that never reaches the filter before the gap is skipped. Default 2 s. Once the endpoint is
    /// stopping, a gap is a delivery the transport dropped (it goes back to the queue): after 100 ms the
    /// deliveries behind it are returned to the queue unprocessed when the order allows it
    /// (<see cref="IDeliveryOrder.ReturnsCanceledDeliveries"/>), so none runs ahead of it.
    /// </summary>
    public TimeSpan SequenceGapTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Set the endpoint's concurrent message limit (and raise its prefetch) to <c>Workers + MaxBuffered</c>. Default true.</summary>
    public bool ConfigureTransportConcurrency { get; set; } = true;

    /// <summary>
    /// The transport's delivery order. Null: the in-memory transport's own order on an in-memory
    /// endpoint; on any other endpoint start-up fails until an order is chosen: <c>o.UseRabbitMqDeliveryOrder()</c>
    /// (MassTransit.Patterns.RabbitMQ), your own <see cref="IDeliveryOrder"/>, or <see cref="UseArrivalOrder"/>.
    /// </summary>
    public IDeliveryOrder? DeliveryOrder { get; set; }

    /// <summary>
    /// Orders by arrival at the filter (best effort: MassTransit's concurrent dispatch can reorder two
    /// messages of a key delivered close together). For a transport whose delivery order cannot be read.
    /// </summary>
    public ThreadDelegateOptions UseArrivalOrder()
    {
        DeliveryOrder = ArrivalDeliveryOrder.Instance;
        return this;
    }

    /// <summary>The message types ordered by key, with their selectors.</summary>
    public IReadOnlyList<ThreadDelegateKeySelector> Keys => _selectors;

    /// <summary>Orders messages of type <typeparamref name="T"/> by the key <paramref name="selector"/> returns.</summary>
    public ThreadDelegateOptions Key<T>(Func<T, string?> selector)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(selector);
        return Add(new ThreadDelegateKeySelector<T>(context => selector(context.Message)));
    }

    /// <summary>Orders messages of type <typeparamref name="T"/> by a <see cref="Guid"/> key.</summary>
    public ThreadDelegateOptions Key<T>(Func<T, Guid> selector)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(selector);
        return Add(new ThreadDelegateKeySelector<T>(context => selector(context.Message) is var id && id != Guid.Empty ? id.ToString("N") : null));
    }

    /// <summary>Orders messages of type <typeparamref name="T"/> by an integer key.</summary>
    public ThreadDelegateOptions Key<T>(Func<T, long> selector)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(selector);
        return Add(new ThreadDelegateKeySelector<T>(context => selector(context.Message).ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>Orders messages of type <typeparamref name="T"/> by a key read from the consume context (a header, say).</summary>
    public ThreadDelegateOptions KeyFromContext<T>(Func<ConsumeContext<T>, string?> selector)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(selector);
        return Add(new ThreadDelegateKeySelector<T>(selector));
    }

    ThreadDelegateOptions Add(ThreadDelegateKeySelector selector)
    {
        _selectors.RemoveAll(s => s.MessageType == selector.MessageType);
        _selectors.Add(selector);
        return this;
    }

    internal int EffectiveMaxBuffered => MaxBuffered ?? Math.Min(64 * Workers, 4096);

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.InRange(Workers, 1, 4096, nameof(Workers))
            .Positive(EffectiveMaxBuffered, nameof(MaxBuffered))
            .Positive(MaxBufferedPerLane, nameof(MaxBufferedPerLane))
            .Positive(SequenceGapTimeout, nameof(SequenceGapTimeout))
            .Require(_selectors.Count > 0, nameof(Keys), "must name at least one message type and its key (options.Key<T>(m => ...)).")
            .Require(Enum.IsDefined(Allocation), nameof(Allocation), $"is not a known allocation (was {Allocation}).")
            .Require(Enum.IsDefined(FailedKey), nameof(FailedKey), $"is not a known behaviour (was {FailedKey}).")
            .Require(Enum.IsDefined(MissingKey), nameof(MissingKey), $"is not a known behaviour (was {MissingKey}).");
        if (MissingKey == MissingKeyBehavior.DefaultLane)
            validator.NotEmpty(DefaultKey, nameof(DefaultKey));
        if (HoldTimeout is { } hold)
            validator.Positive(hold, nameof(HoldTimeout));
        if (FailedKey == FailedKeyBehavior.Hold)
            validator.Require(Control is not null || HoldTimeout is not null, nameof(Control),
                "must be set with FailedKey = Hold unless HoldTimeout is set: otherwise a held key could never be released.");
    }
}

/// <summary>A message type ordered by the thread delegate, and how its key is read.</summary>
public abstract class ThreadDelegateKeySelector
{
    private protected ThreadDelegateKeySelector(Type messageType) => MessageType = messageType;

    /// <summary>The message type.</summary>
    public Type MessageType { get; }

    /// <summary>
    /// Reads the key when <paramref name="context"/> holds a message of <see cref="MessageType"/>:
    /// returns false when it does not; <paramref name="key"/> is null when the selector gave none.
    /// </summary>
    internal abstract bool TryGetKey(ConsumeContext context, out string? key);
}

sealed class ThreadDelegateKeySelector<T>(Func<ConsumeContext<T>, string?> selector) : ThreadDelegateKeySelector(typeof(T))
    where T : class
{
    internal override bool TryGetKey(ConsumeContext context, out string? key)
    {
        if (context is ConsumeContext<T> typed || (context.HasMessageType(typeof(T)) && context.TryGetMessage(out typed!)))
        {
            key = selector(typed);
            return true;
        }
        key = null;
        return false;
    }
}
