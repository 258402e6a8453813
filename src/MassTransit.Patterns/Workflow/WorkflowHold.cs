using System.Collections.Concurrent;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// A later message of a key whose earlier message is being repaired: held by the processor behind
/// that message (its leader) and released, in order, once the leader is completed or discarded.
/// </summary>
public sealed record WorkflowMessageHeld
{
    /// <summary>The leader's workflow id (the failed message's original id).</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The held message's id.</summary>
    public Guid MessageId { get; init; }

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The order the endpoint received the key's messages in.</summary>
    public long Sequence { get; init; }

    /// <summary>The queue it came from, where it is released to.</summary>
    public Uri? SourceAddress { get; init; }

    /// <summary>The raw body's content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>The raw body.</summary>
    public byte[] Body { get; init; } = [];

    /// <summary>The transport headers, as text.</summary>
    public Dictionary<string, string> Headers { get; init; } = [];
}

/// <summary>A key is held (a message of it was handed to the processor): every instance holds its later messages.</summary>
public sealed record WorkflowKeyHeld
{
    /// <summary>The queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The leader's workflow id.</summary>
    public Guid LeaderId { get; init; }
}

/// <summary>
/// The leader of a held key was resolved and the messages held behind it came back through the endpoint:
/// the key is free. With <see cref="IfDrained"/> an instance frees it only if the last message it held behind the
/// leader is <see cref="LastReleasedId"/> (or it held none): a message it held later is still on its way to the
/// processor, which sends it back, and the key is freed when it has come back.
/// </summary>
public sealed record WorkflowKeyReleased
{
    /// <summary>The queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The leader's workflow id.</summary>
    public Guid LeaderId { get; init; }

    /// <summary>Free the key only where nothing was held behind the leader after <see cref="LastReleasedId"/>.</summary>
    public bool IfDrained { get; init; }

    /// <summary>The last released message that came back through the endpoint; null when none was released.</summary>
    public Guid? LastReleasedId { get; init; }
}

/// <summary>
/// Sent by the endpoint to the processor when the last message of a release (header
/// <see cref="WorkflowHeaders.ReleaseLast"/>) has come back through it: the processor then sends back, in order,
/// the messages held behind the leader while that release was on its way.
/// </summary>
public sealed record WorkflowReleaseDrained
{
    /// <summary>The leader's workflow id.</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The last released message's id.</summary>
    public Guid MessageId { get; init; }
}

/// <summary>
/// The keys held in this process, per queue: key to leader id. Filled when this process hands a
/// keyed failure off and when another instance announces one (<see cref="WorkflowKeyHeld"/>); emptied
/// when the leader's release is announced (<see cref="WorkflowKeyReleased"/>).
/// </summary>
public sealed class WorkflowHoldRegistry
{
    readonly Dictionary<(string Queue, string Key), HeldKey> _held = [];
    readonly Lock _gate = new();
    readonly ConcurrentDictionary<(string Queue, string Key), long> _sequence = new();
    readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A registry ready at once (nothing to load).</summary>
    public WorkflowHoldRegistry()
        : this(false)
    {
    }

    /// <summary>
    /// A registry that, with <paramref name="loadAtStart"/>, is not <see cref="Ready"/> until the keys the
    /// processor still holds have been loaded at bus start (<see cref="WorkflowHoldLoader"/>): until then
    /// the filter waits before deciding whether a keyed message is held, so a restart does not free them.
    /// </summary>
    public WorkflowHoldRegistry(bool loadAtStart)
    {
        if (!loadAtStart)
            _ready.TrySetResult();
    }

    /// <summary>Completes once the held keys are known (loaded, or the load gave up).</summary>
    public Task Ready => _ready.Task;

    /// <summary>Marks the registry ready.</summary>
    public void MarkReady() => _ready.TrySetResult();

    /// <summary>The leader holding <paramref name="key"/> on <paramref name="queue"/>, or null.</summary>
    public Guid? LeaderOf(string queue, string key)
    {
        lock (_gate)
            return _held.TryGetValue((queue, key), out var held) ? held.Leader : null;
    }

    /// <summary>Keys held now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _held.Count;
        }
    }

    /// <summary>Holds <paramref name="key"/> behind <paramref name="leaderId"/> (the latest failure of the key leads).</summary>
    public void Hold(string queue, string key, Guid leaderId)
    {
        lock (_gate)
            if (!_held.TryGetValue((queue, key), out var held) || held.Leader != leaderId)
                _held[(queue, key)] = new HeldKey(leaderId, null);
    }

    /// <summary>Releases the key if <paramref name="leaderId"/> still holds it.</summary>
    public bool Release(string queue, string key, Guid leaderId)
    {
        lock (_gate)
            return _held.TryGetValue((queue, key), out var held) && held.Leader == leaderId && _held.Remove((queue, key));
    }

    /// <summary>
    /// Releases the key if <paramref name="leaderId"/> still holds it and the last message held behind it here is
    /// <paramref name="lastReleasedId"/> (or none was held): nothing held later is still on its way back.
    /// </summary>
    public bool ReleaseIfDrained(string queue, string key, Guid leaderId, Guid? lastReleasedId)
    {
        lock (_gate)
            return _held.TryGetValue((queue, key), out var held) && held.Leader == leaderId
                && (held.LastHeld is null || held.LastHeld == lastReleasedId) && _held.Remove((queue, key));
    }

    /// <summary>
    /// Decides, at once with the releases, whether message <paramref name="messageId"/> of <paramref name="key"/> is held:
    /// it is when a leader holds the key and <paramref name="passes"/> does not let it through; then it is recorded as
    /// the last held behind that leader and gets the next sequence.
    /// </summary>
    internal bool TryHoldBehind(string queue, string key, Guid messageId, Func<Guid, bool> passes, out Guid leader, out long sequence)
    {
        lock (_gate)
        {
            if (_held.TryGetValue((queue, key), out var held) && !passes(held.Leader))
            {
                _held[(queue, key)] = held with { LastHeld = messageId };
                leader = held.Leader;
                sequence = NextSequence(queue, key);
                return true;
            }
        }
        leader = Guid.Empty;
        sequence = 0;
        return false;
    }

    sealed record HeldKey(Guid Leader, Guid? LastHeld);

    internal long NextSequence(string queue, string key) => _sequence.AddOrUpdate((queue, key), 1, (_, n) => n + 1);
}

/// <summary>Keeps this process's <see cref="WorkflowHoldRegistry"/> in step with the other instances and the processor.</summary>
public sealed class WorkflowHoldConsumer(WorkflowHoldRegistry registry) : IConsumer<WorkflowKeyHeld>, IConsumer<WorkflowKeyReleased>
{
    /// <inheritdoc />
    public Task Consume(ConsumeContext<WorkflowKeyHeld> context)
    {
        registry.Hold(context.Message.Queue, context.Message.Key, context.Message.LeaderId);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task Consume(ConsumeContext<WorkflowKeyReleased> context)
    {
        var m = context.Message;
        if (m.IfDrained)
            registry.ReleaseIfDrained(m.Queue, m.Key, m.LeaderId, m.LastReleasedId);
        else
            registry.Release(m.Queue, m.Key, m.LeaderId);
        return Task.CompletedTask;
    }
}

/// <summary>Asks the processor which keys it holds (request; answered with <see cref="HeldKeyList"/>).</summary>
public sealed record ListHeldKeys;

/// <summary>The keys the processor holds: unresolved workflows with a hold key.</summary>
public sealed record HeldKeyList
{
    /// <summary>Each held key with its queue and leader.</summary>
    public WorkflowKeyHeld[] Keys { get; init; } = [];
}

/// <summary>
/// Loads the keys the processor still holds into this process's <see cref="WorkflowHoldRegistry"/>
/// when the bus starts, so that a restarted instance keeps holding them.
/// </summary>
public sealed partial class WorkflowHoldLoader(WorkflowHoldRegistry registry, WorkflowHoldLoaderOptions options,
    Microsoft.Extensions.Logging.ILogger<WorkflowHoldLoader> logger, WorkflowProcessorOptions? processor = null) : IBusObserver
{
    readonly Uri _processorAddress = options.ResolveProcessorAddress(processor);

    /// <summary>Asks the processor at <paramref name="processorAddress"/> and fills <paramref name="registry"/>.</summary>
    public static async Task<int> LoadAsync(WorkflowHoldRegistry registry, IBus bus, Uri processorAddress, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(bus);
        var client = bus.CreateRequestClient<ListHeldKeys>(processorAddress, timeout);
        var response = await client.GetResponse<HeldKeyList>(new ListHeldKeys(), cancellationToken).ConfigureAwait(false);
        foreach (var held in response.Message.Keys)
            registry.Hold(held.Queue, held.Key, held.LeaderId);
        return response.Message.Keys.Length;
    }

    /// <inheritdoc />
    public void PostCreate(IBus bus)
    {
    }

    /// <inheritdoc />
    public void CreateFaulted(Exception exception) => registry.MarkReady();

    /// <inheritdoc />
    public Task PreStart(IBus bus) => Task.CompletedTask;

    /// <inheritdoc />
    public Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        _ = Task.Run(async () =>
        {
            try
            {
                await busReady.ConfigureAwait(false);
                await LoadAsync(registry, bus, _processorAddress, options.LoadTimeout).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                LogLoadFailed(logger, e, _processorAddress);
            }
            finally
            {
                registry.MarkReady();
            }
        });
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StartFaulted(IBus bus, Exception exception)
    {
        registry.MarkReady();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task PreStop(IBus bus) => Task.CompletedTask;

    /// <inheritdoc />
    public Task PostStop(IBus bus) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 3005, Level = Microsoft.Extensions.Logging.LogLevel.Warning,
        Message = "Workflow event: the keys held by the processor at {Address} could not be loaded; keys held before this start are not held here")]
    static partial void LogLoadFailed(Microsoft.Extensions.Logging.ILogger logger, Exception exception, Uri address);
}

/// <summary>Where the hold loader asks and how long it waits.</summary>
public sealed class WorkflowHoldLoaderOptions
{
    Uri? _processorAddress;

    /// <summary>
    /// The processor's address. Left unset, it follows the processor registered in the same container
    /// (<see cref="WorkflowProcessorOptions.Address"/>), else <c>queue:workflow-repair</c>; set to another queue
    /// than that processor's, the start fails.
    /// </summary>
    public Uri ProcessorAddress
    {
        get => _processorAddress ?? WorkflowProcessorOptions.DefaultAddress;
        set => _processorAddress = value;
    }

    /// <summary>The address asked: the one set, else the processor's in this container, else the default.</summary>
    internal Uri ResolveProcessorAddress(WorkflowProcessorOptions? processor) => _processorAddress ?? processor?.Address ?? WorkflowProcessorOptions.DefaultAddress;

    /// <summary>True when <see cref="ProcessorAddress"/> was set.</summary>
    internal bool ProcessorAddressSet => _processorAddress is not null;

    /// <summary>How long the filter waits for the load at start before deciding without it.</summary>
    public TimeSpan LoadTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
