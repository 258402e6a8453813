using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// Makes a dependency hang as a frozen one does: while it is on, every call waits until
/// <see cref="Release"/> and deliberately ignores its cancellation token (as a client blocked in a
/// socket read, or a library that does not pass the token on, does). Wrap a probe or a store with it.
/// </summary>
public sealed class HangSwitch
{
    readonly Lock _lock = new();
    TaskCompletionSource? _gate;
    int _hanging;
    long _calls;

    /// <summary>True while calls hang.</summary>
    public bool IsOn
    {
        get
        {
            lock (_lock)
                return _gate is not null;
        }
    }

    /// <summary>Calls waiting now.</summary>
    public int Hanging => Volatile.Read(ref _hanging);

    /// <summary>Calls that have hung since creation.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>From now on, calls hang until <see cref="Release"/>.</summary>
    public void Hang()
    {
        lock (_lock)
            _gate ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Lets every hung call go on, and later calls pass.</summary>
    public void Release()
    {
        TaskCompletionSource? gate;
        lock (_lock)
        {
            gate = _gate;
            _gate = null;
        }
        gate?.TrySetResult();
    }

    /// <summary>
    /// While on, hangs every send of <typeparamref name="T"/> on <paramref name="bus"/>'s send pipe, which runs before a
    /// request's own pipe, where MassTransit starts the request's timeout: a send waiting before the transport (for a
    /// channel after a broker node's loss) does the same.
    /// </summary>
    public void HangSendsOf<T>(IBusFactoryConfigurator bus)
        where T : class =>
        bus.ConfigureSend(s => s.UseExecuteAsync(async send =>
        {
            if (send is SendContext<T>)
                await WaitWhileHungAsync().ConfigureAwait(false);
        }));

    /// <summary>As <see cref="HangSendsOf{T}"/>, for the publishes of <typeparamref name="T"/>.</summary>
    public void HangPublishesOf<T>(IBusFactoryConfigurator bus)
        where T : class =>
        bus.ConfigurePublish(p => p.UseExecuteAsync(async publish =>
        {
            if (publish is PublishContext<T>)
                await WaitWhileHungAsync().ConfigureAwait(false);
        }));

    /// <summary>Waits while the switch is on. The caller's token is not taken on purpose: a hung dependency does not honour it.</summary>
    /// <returns>True when this call hung (and was released), false when it passed at once.</returns>
    public async Task<bool> WaitWhileHungAsync()
    {
        Task? gate;
        lock (_lock)
            gate = _gate?.Task;
        if (gate is null)
            return false;
        Interlocked.Increment(ref _calls);
        Interlocked.Increment(ref _hanging);
        try
        {
            await gate.ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _hanging);
        }
        return true;
    }
}

/// <summary>
/// A queue depth probe that hangs while its <see cref="Switch"/> is on, ignoring the cancellation
/// token, and answers otherwise with <see cref="Ready"/>. A call released after hanging answers
/// <see cref="LateReady"/>: a reading that must never be used, since it arrives after its deadline.
/// </summary>
public sealed class HungQueueDepthProbe : IQueueDepthProbe
{
    long _ready;
    long _answered;

    /// <summary>Turns the hang on and off.</summary>
    public HangSwitch Switch { get; } = new();

    /// <summary>The depth answered by a call that did not hang.</summary>
    public long Ready
    {
        get => Interlocked.Read(ref _ready);
        set => Interlocked.Exchange(ref _ready, value);
    }

    /// <summary>The depth answered by a call that hung and was released: a late reading.</summary>
    public long LateReady { get; set; } = 999_999;

    /// <summary>Calls that returned a reading (on time or late).</summary>
    public long Answered => Interlocked.Read(ref _answered);

    /// <inheritdoc />
    public string Name => "hung";

    /// <inheritdoc />
    public bool KnowsUnacknowledged => false;

    /// <inheritdoc />
    public async Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        var hung = await Switch.WaitWhileHungAsync().ConfigureAwait(false);
        Interlocked.Increment(ref _answered);
        return new QueueDepthSample(queue, hung ? LateReady : Ready, null, null, DateTimeOffset.UtcNow);
    }
}
