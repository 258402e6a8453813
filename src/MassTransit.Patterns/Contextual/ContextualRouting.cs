using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Contextual;

/// <summary>The life of a context (or bucket) queue.</summary>
public enum ContextQueueState
{
    /// <summary>Its endpoint is being connected; its binding does not exist yet.</summary>
    Creating,

    /// <summary>Bound and consuming.</summary>
    Active,

    /// <summary>Unbound; draining what is left before deletion.</summary>
    Retiring
}

/// <summary>A snapshot of one context or bucket queue.</summary>
/// <param name="QueueName">The queue.</param>
/// <param name="Contexts">The context keys routed to it (one, or several for a bucket).</param>
/// <param name="State">Its state.</param>
/// <param name="IsStatic">Declared up front; never retired.</param>
/// <param name="IsBucket">A bucket shared by contexts beyond the cap.</param>
/// <param name="Consumed">Messages consumed from it.</param>
public sealed record ContextQueueInfo(string QueueName, IReadOnlyList<string> Contexts, ContextQueueState State, bool IsStatic, bool IsBucket, long Consumed);

/// <summary>
/// The running side of <c>UseContextualQueues</c> for one message type: the registry of context queues, their
/// creation on first sight, the send-side routing, and retirement. Returned by <c>UseContextualQueues</c>;
/// producers send to <see cref="RouterAddress"/>.
/// </summary>
public sealed partial class ContextualRouting
{
    /// <summary>The routing key of the default queue on the routing exchange (no context key can take this form).</summary>
    public const string DefaultRoutingKey = "#default";

    /// <summary>The header carrying the routing key a producer chose (for diagnostics).</summary>
    public const string ContextHeader = "MT-Patterns-Context";

    readonly ConcurrentDictionary<string, ContextQueue> _byKey = new(StringComparer.Ordinal);

    // Queue names ignore case, as MassTransit's receive endpoint names (and the in-memory transport's queues) do;
    // keys are made distinct even ignoring case (ContextKey.Normalize), so only a hash collision can clash here.
    readonly ConcurrentDictionary<string, ContextQueue> _byQueue = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The context value that first brought each key with a queue (own or bucket): another value of that key is a collision.</summary>
    readonly ConcurrentDictionary<string, string> _contextOfKey = new(StringComparer.Ordinal);

    /// <summary>Collisions and clashes already logged (bounded by <see cref="MaxReported"/>), so each is logged once.</summary>
    readonly ConcurrentDictionary<string, byte> _reported = new(StringComparer.Ordinal);

    const int MaxReported = 1024;
    readonly object _lock = new();
    readonly Func<object, string?> _selector;
    readonly Action<IReceiveEndpointConfigurator>? _configureEndpoint;
    readonly CancellationTokenSource _stopping = new();
    ILogger _logger = NullLogger.Instance;
    IReceiveConnector? _connector;
    Task? _idleLoop;

    internal ContextualRouting(Type messageType, Func<object, string?> selector, Func<ConsumeContext, object?> extract, ContextualQueueOptions options,
        IContextualQueueTransport transport, Action<IReceiveEndpointConfigurator>? configureEndpoint)
    {
        Extract = extract;
        MessageType = messageType;
        _selector = selector;
        Options = options;
        Transport = transport;
        _configureEndpoint = configureEndpoint;
        RouterAddress = transport.GetRouterAddress(options);
        ContextualMetrics.Track(this);
    }

    internal Func<ConsumeContext, object?> Extract { get; }

    /// <summary>The routed message type.</summary>
    public Type MessageType { get; }

    /// <summary>The options as configured.</summary>
    public ContextualQueueOptions Options { get; }

    /// <summary>The transport topology.</summary>
    public IContextualQueueTransport Transport { get; }

    /// <summary>Where producers send the routed messages: the routing exchange.</summary>
    public Uri RouterAddress { get; }

    /// <summary>The context queues (not buckets) that exist now, in any state.</summary>
    public int ContextQueueCount => _byQueue.Values.Count(q => !q.IsBucket);

    /// <summary>Contexts with a queue (own or bucket) that is active now.</summary>
    public int ActiveContexts => _byKey.Count(p => IsRouted(p.Key, p.Value));

    /// <summary>All context and bucket queues that exist now.</summary>
    public IReadOnlyList<ContextQueueInfo> Queues =>
        _byQueue.Values.Select(q => new ContextQueueInfo(q.Name, q.SnapshotKeys(), q.State, q.IsStatic, q.IsBucket, Interlocked.Read(ref q.Completed))).ToArray();

    /// <summary>Messages consumed by the default queue's endpoint.</summary>
    public long DefaultConsumed => Interlocked.Read(ref _defaultConsumed);

    long _defaultConsumed;

    /// <summary>The key a context value maps to, or null for the default queue (null, blank, or invalid under <see cref="InvalidContextKeyHandling.DefaultQueue"/>).</summary>
    public string? KeyOf(string? context) => ContextKey.Normalize(context, Options.InvalidKeys, Options.MaxKeyLength);

    /// <summary>The queue a context's messages go to now (context queue, bucket, or the default queue).</summary>
    public string QueueOf(string? context) =>
        KeyOf(context) is { } key && _byKey.TryGetValue(key, out var queue) && IsRouted(key, queue) ? queue.Name : Options.DefaultQueueName;

    /// <summary>True when messages of <paramref name="key"/> reach <paramref name="queue"/>: it is active and the key's binding exists.</summary>
    static bool IsRouted(string key, ContextQueue queue) => queue.State == ContextQueueState.Active && queue.Bound.ContainsKey(key);

    /// <summary>Waits until <paramref name="context"/> has an active queue of its own or a bucket; false if <paramref name="timeout"/> passes first.</summary>
    public async Task<bool> WaitForQueueAsync(string context, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (KeyOf(context) is { } key && _byKey.TryGetValue(key, out var q) && IsRouted(key, q))
                return true;
            await Task.Delay(10).ConfigureAwait(false);
        }
        return false;
    }

    /// <summary>
    /// Retires a dynamic context's queue now: stops routing to it (later messages go to the default queue, and
    /// may create it again), drains what is left, then deletes it. False when the context has no own queue, is
    /// static, or did not drain within <see cref="ContextualQueueOptions.DrainTimeout"/> (the queue is then kept).
    /// </summary>
    public Task<bool> RetireAsync(string context, CancellationToken cancellationToken = default) =>
        KeyOf(context) is { } key && _byKey.TryGetValue(key, out var queue) && !queue.IsBucket && !queue.IsStatic
            ? RetireAsync(queue, cancellationToken)
            : Task.FromResult(false);

    internal string? SelectKey(object message) => SelectKey(message, out _);

    string? SelectKey(object message, out string? context)
    {
        try
        {
            context = _selector(message);
            return KeyOf(context);
        }
        catch (Exception exception)
        {
            SelectorFailed(_logger, MessageType.Name, exception);
            context = null;
            return null;
        }
    }

    /// <summary>A context or bucket queue consumed <paramref name="message"/>: logs it when its context shares its key with another context.</summary>
    internal void Consumed(object message, ContextQueue queue)
    {
        string? context;
        try
        {
            context = _selector(message);
        }
        catch (Exception)
        {
            return;     // it was routed here, so the selector did not throw when it was sent; nothing to check
        }
        if (KeyOf(context) is { } key)
            CheckShared(key, context!, queue);
    }

    /// <summary>Logs, once, a context whose key was first brought by another context: both share the key's queue.</summary>
    void CheckShared(string key, string context, ContextQueue queue)
    {
        if (_contextOfKey.TryGetValue(key, out var first) && !string.Equals(first, context, StringComparison.Ordinal)
            && _reported.Count < MaxReported && _reported.TryAdd($"{key}\n{context}", 0))
            KeyShared(_logger, context, first, key, queue.Name);
    }

    /// <summary>The routing key for a message, and the queue it is counted against (in-memory routing only).</summary>
    internal (string RoutingKey, ContextQueue? Counted) Route(object message)
    {
        var key = SelectKey(message);
        if (key is null)
            return (DefaultRoutingKey, null);
        if (Transport.BrokerFallback)
            return (key, null);

        if (!_byKey.TryGetValue(key, out var queue))
            return (DefaultRoutingKey, null);
        Interlocked.Increment(ref queue.PendingSends);
        if (!IsRouted(key, queue))
        {
            Interlocked.Decrement(ref queue.PendingSends);
            return (DefaultRoutingKey, null);
        }
        return (queue.IsBucket ? queue.RoutingKey : key, queue);
    }

    internal void DefaultConsumedOne() => Interlocked.Increment(ref _defaultConsumed);

    /// <summary>The default queue saw a message: create its context's queue (or bucket binding) if there is none and the cap allows.</summary>
    internal void Seen(object message)
    {
        var key = SelectKey(message, out var context);
        if (key is null)
            return;
        if (_byKey.TryGetValue(key, out var known))
        {
            CheckShared(key, context!, known);
            return;
        }
        if (_connector is null || _stopping.IsCancellationRequested || !Options.CreateOnDemand)
            return;
        ContextQueue? create = null;
        var bind = false;
        ContextQueue? target;
        ContextQueue? taken = null;
        string? clash = null;
        lock (_lock)
        {
            if (_byKey.TryGetValue(key, out known))
                target = null;
            else if (_byQueue.Values.Count(q => !q.IsBucket) < Options.MaxContextQueues)
            {
                target = create = new ContextQueue(Options.QueueNameOf(key), key, isStatic: false, isBucket: false);
                if (!_byQueue.TryAdd(create.Name, create))
                {
                    taken = _byQueue.GetValueOrDefault(create.Name);
                    clash = create.Name;
                    target = create = null;
                }
            }
            else if (Options.BucketCount > 0)
            {
                var name = Options.BucketQueueName(ContextKey.Bucket(key, Options.BucketCount));
                if (!_byQueue.TryGetValue(name, out target))
                {
                    target = create = new ContextQueue(name, "#bucket-" + name, isStatic: false, isBucket: true);
                    _byQueue[name] = create;
                }
                else if (!target.IsBucket)
                {
                    taken = target;     // a context queue named like the bucket (QueueNameTemplate)
                    clash = name;
                    target = null;
                }
                if (target is not null)
                {
                    bind = true;
                    lock (target.Keys)
                        target.Keys.Add(key);
                }
            }
            else
            {
                ContextualMetrics.Overflowed(Options.DefaultQueueName);
                return;
            }
            if (target is not null)
            {
                _byKey[key] = target;
                _contextOfKey[key] = context!;
            }
        }

        if (target is null)
        {
            if (known is not null)
                CheckShared(key, context!, known);
            else if (_reported.Count < MaxReported && _reported.TryAdd($"{key}\n#queue", 0))
                QueueNameTaken(_logger, context!, key, clash!, taken is null ? "?" : string.Join(", ", taken.SnapshotKeys()));
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                if (create is not null)
                    await ConnectAsync(create).ConfigureAwait(false);
                else
                    await target.Ready.Task.ConfigureAwait(false);
                if (bind)
                {
                    await Transport.BindAsync(target.Name, key, Options, _stopping.Token).ConfigureAwait(false);
                    target.Bound[key] = true;
                }
                if (!create?.IsBucket ?? true)
                    ContextCreated(_logger, key, target.Name, Transport.Name);
            }
            catch (Exception exception)
            {
                CreateFailed(_logger, key, target.Name, exception);
                lock (_lock)
                {
                    if (_byKey.TryRemove(new KeyValuePair<string, ContextQueue>(key, target)))
                        _contextOfKey.TryRemove(key, out _);
                    if (create is not null)
                        _byQueue.TryRemove(new KeyValuePair<string, ContextQueue>(create.Name, create));
                }
            }
        });
    }

    async Task ConnectAsync(ContextQueue queue)
    {
        queue.Handle = _connector!.ConnectReceiveEndpoint(queue.Name, e => ConfigureContextEndpoint(e, queue));
        await queue.Handle.Ready.WaitAsync(_stopping.Token).ConfigureAwait(false);
        await Transport.ActivateAsync(queue.Name, queue.RoutingKey, Options, _stopping.Token).ConfigureAwait(false);
        queue.Touch();
        if (!queue.IsBucket)
            queue.Bound[queue.RoutingKey] = true;
        queue.State = ContextQueueState.Active;
        queue.Ready.TrySetResult();
    }

    void ConfigureContextEndpoint(IReceiveEndpointConfigurator endpoint, ContextQueue queue)
    {
        endpoint.UseFilter(new ContextQueueActivityFilter(queue, this));
        _configureEndpoint?.Invoke(endpoint);
        // After the consumers: the queue receives only through the router (subscribing it to the message type
        // would deliver every publish to each context queue), and the options' concurrency wins.
        Transport.ConfigureContextEndpoint(endpoint, Options, queue.RoutingKey);
        endpoint.ConcurrentMessageLimit = Options.ConcurrentMessageLimit;
        endpoint.PrefetchCount = Options.ConcurrentMessageLimit;
    }

    internal void ConfigureDefaultEndpoint(IReceiveEndpointConfigurator endpoint)
    {
        endpoint.UseFilter(new DefaultQueueFilter(this));
        _configureEndpoint?.Invoke(endpoint);
        Transport.ConfigureDefaultEndpoint(endpoint, Options);
        endpoint.ConcurrentMessageLimit = Options.DefaultConcurrentMessageLimit;
        endpoint.PrefetchCount = Options.DefaultConcurrentMessageLimit;
    }

    internal async Task StartAsync(IBus bus, ILogger logger)
    {
        _logger = logger;
        _connector = bus;
        foreach (var context in Options.StaticContexts.Distinct(StringComparer.Ordinal))
        {
            // Validated: each static context is valid, and no two of them map to one queue.
            var key = KeyOf(context)!;
            var queue = new ContextQueue(Options.QueueNameOf(key), key, isStatic: true, isBucket: false);
            _byQueue[queue.Name] = queue;
            _byKey[key] = queue;
            _contextOfKey[key] = context;
            await ConnectAsync(queue).ConfigureAwait(false);
        }
        _idleLoop = Task.Run(IdleLoopAsync);
    }

    internal async Task StopAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_idleLoop is not null)
            await _idleLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    async Task IdleLoopAsync()
    {
        var interval = Options.EffectiveIdleCheckInterval;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = Stopwatch.GetTimestamp();
            foreach (var queue in _byQueue.Values.Where(q => !q.IsStatic && !q.IsBucket && q.State == ContextQueueState.Active).ToArray())
            {
                if (Interlocked.Read(ref queue.InFlight) == 0 && Stopwatch.GetElapsedTime(Interlocked.Read(ref queue.LastActivity), now) >= Options.IdleTimeout)
                {
                    try
                    {
                        await RetireAsync(queue, _stopping.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        }
    }

    async Task<bool> RetireAsync(ContextQueue queue, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (queue.State != ContextQueueState.Active)
                return false;
            queue.State = ContextQueueState.Retiring;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.DrainTimeout);
        var token = timeout.Token;
        var started = Stopwatch.GetTimestamp();
        try
        {
            // 1. Stop routing: unbind (broker) and let in-process sends already routed finish.
            await Transport.UnbindAsync(queue.Name, queue.RoutingKey, Options, token).ConfigureAwait(false);
            while (Interlocked.Read(ref queue.PendingSends) > 0)
                await Task.Delay(5, token).ConfigureAwait(false);

            // 2. Drain: consume what is left, then stop the endpoint; anything it handed back is drained again.
            while (true)
            {
                while (!await IsDrainedAsync(queue, token).ConfigureAwait(false))
                    await Task.Delay(20, token).ConfigureAwait(false);
                await queue.Handle!.StopAsync(token).ConfigureAwait(false);
                if (await Transport.GetReadyCountAsync(queue.Name, token).ConfigureAwait(false) is null or 0)
                    break;
                queue.Handle = _connector!.ConnectReceiveEndpoint(queue.Name, e => ConfigureContextEndpoint(e, queue));
                await queue.Handle.Ready.WaitAsync(token).ConfigureAwait(false);
            }

            // 3. Delete (only if empty) and forget: the context's next message goes to the default queue and creates it again;
            //    so does anything sent to the retired queue's own address (the transport forwards it to the default queue).
            await Transport.DeleteQueueAsync(queue.Name, Options, token).ConfigureAwait(false);
            lock (_lock)
            {
                _byQueue.TryRemove(new KeyValuePair<string, ContextQueue>(queue.Name, queue));
                if (_byKey.TryRemove(new KeyValuePair<string, ContextQueue>(queue.RoutingKey, queue)))
                    _contextOfKey.TryRemove(queue.RoutingKey, out _);
            }
            ContextRetired(_logger, queue.RoutingKey, queue.Name, Interlocked.Read(ref queue.Completed), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            ContextualMetrics.Retired(Options.DefaultQueueName);
            return true;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            RetireFailed(_logger, queue.Name, exception);
            return false;
        }
    }

    async Task<bool> IsDrainedAsync(ContextQueue queue, CancellationToken token)
    {
        if (Interlocked.Read(ref queue.InFlight) > 0)
            return false;
        if (await Transport.GetReadyCountAsync(queue.Name, token).ConfigureAwait(false) is { } ready)
            return ready == 0 && Interlocked.Read(ref queue.InFlight) == 0;
        return Interlocked.Read(ref queue.Completed) >= Interlocked.Read(ref queue.Routed);
    }

    [LoggerMessage(EventId = 8001, Level = LogLevel.Information, Message = "Context {Context} has its queue {Queue} on {Transport}")]
    static partial void ContextCreated(ILogger logger, string context, string queue, string transport);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Context {Context}: queue {Queue} retired after consuming {Consumed} messages (drained in {DrainMs:F0} ms)")]
    static partial void ContextRetired(ILogger logger, string context, string queue, long consumed, double drainMs);

    [LoggerMessage(EventId = 8003, Level = LogLevel.Warning, Message = "Context {Context}: creating queue {Queue} failed; its messages stay on the default queue")]
    static partial void CreateFailed(ILogger logger, string context, string queue, Exception exception);

    [LoggerMessage(EventId = 8004, Level = LogLevel.Warning, Message = "Retiring context queue {Queue} failed; the queue is kept")]
    static partial void RetireFailed(ILogger logger, string queue, Exception exception);

    [LoggerMessage(EventId = 8005, Level = LogLevel.Warning, Message = "The context selector of {MessageType} threw; the message goes to the default queue")]
    static partial void SelectorFailed(ILogger logger, string messageType, Exception exception);

    [LoggerMessage(EventId = 8006, Level = LogLevel.Warning,
        Message = "Context {Context} maps to key {Key}, as context {Other} does (their sanitized forms agree and their hashes collide): both share queue {Queue}")]
    static partial void KeyShared(ILogger logger, string context, string other, string key, string queue);

    [LoggerMessage(EventId = 8007, Level = LogLevel.Warning,
        Message = "Context {Context} (key {Key}): its queue {Queue} clashes with the queue of {Other} (queue names ignore case); its messages stay on the default queue")]
    static partial void QueueNameTaken(ILogger logger, string context, string key, string queue, string other);
}

/// <summary>One context or bucket queue in the registry.</summary>
sealed class ContextQueue(string name, string routingKey, bool isStatic, bool isBucket)
{
    public string Name { get; } = name;
    public string RoutingKey { get; } = routingKey;
    public bool IsStatic { get; } = isStatic;
    public bool IsBucket { get; } = isBucket;
    public List<string> Keys { get; } = isBucket ? [] : [routingKey];
    public ConcurrentDictionary<string, bool> Bound { get; } = new(StringComparer.Ordinal);
    public volatile ContextQueueState State = ContextQueueState.Creating;
    public HostReceiveEndpointHandle? Handle;
    public readonly TaskCompletionSource Ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public long PendingSends;
    public long Routed;
    public long Completed;
    public long InFlight;
    public long LastActivity = Stopwatch.GetTimestamp();

    public string[] SnapshotKeys()
    {
        lock (Keys)
            return Keys.ToArray();
    }

    public void Touch() => Interlocked.Exchange(ref LastActivity, Stopwatch.GetTimestamp());
}
