using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

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
    internal IReadOnlyList<ThreadDelegateKeySelector> Keys => _selectors;

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
