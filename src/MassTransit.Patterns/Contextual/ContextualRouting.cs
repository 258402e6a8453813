using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Contextual;

/// <summary>
/// The running side of <c>UseContextualQueues</c> for one message type: the registry of context queues, their
/// creation on first sight, the send-side routing, and retirement. A singleton of the container, registered by
/// <c>AddContextualQueues&lt;TMessage&gt;()</c> as <see cref="ContextualRouting{TMessage}"/> and configured by
/// <c>UseContextualQueues&lt;TMessage&gt;</c> when the bus is created; producers send to <see cref="RouterAddress"/>.
/// </summary>
public abstract partial class ContextualRouting
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

    /// <summary>Queue creations under way (started by <see cref="Seen"/>): awaited on stop.</summary>
    readonly ConcurrentDictionary<Task, byte> _creations = new();

    const int MaxReported = 1024;
    readonly object _lock = new();
    readonly CancellationTokenSource _stopping = new();
    Configuration? _configuration;
    ILogger _logger = NullLogger.Instance;
    IReceiveConnector? _connector;
    Task? _idleLoop;

    private protected ContextualRouting(Type messageType, ContextualMetrics metrics)
    {
        MessageType = messageType;
        Metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
    }

    /// <summary>What <c>UseContextualQueues</c> configured: set once, when the bus is created.</summary>
    sealed record Configuration(Func<object, string?> Selector, Func<ConsumeContext, object?> Extract, ContextualQueueOptions Options,
        IContextualQueueTransport Transport, Action<IReceiveEndpointConfigurator>? ConfigureEndpoint, Uri RouterAddress);

    Configuration Configured => _configuration ?? throw new InvalidOperationException(
        $"The contextual queues of {MessageType.Name} are not configured yet: UseContextualQueues<{MessageType.Name}> runs when the bus is created (start the bus first).");

    /// <summary>True once <c>UseContextualQueues</c> has configured this routing (when the bus was created).</summary>
    public bool IsConfigured => _configuration is not null;

    internal ContextualMetrics Metrics { get; }

    /// <summary>Called once by <c>UseContextualQueues</c>; false if it was configured already (a second <c>UseContextualQueues</c> of the type in one container).</summary>
    internal bool TryConfigure(Func<object, string?> selector, Func<ConsumeContext, object?> extract, ContextualQueueOptions options,
        IContextualQueueTransport transport, Action<IReceiveEndpointConfigurator>? configureEndpoint)
    {
        var configuration = new Configuration(selector, extract, options, transport, configureEndpoint, transport.GetRouterAddress(options));
        if (Interlocked.CompareExchange(ref _configuration, configuration, null) is not null)
            return false;
        Metrics.Track(this);
        return true;
    }

    internal Func<ConsumeContext, object?> Extract => Configured.Extract;

    /// <summary>The routed message type.</summary>
    public Type MessageType { get; }

    /// <summary>The options as configured.</summary>
    public ContextualQueueOptions Options => Configured.Options;

    /// <summary>The transport topology.</summary>
    public IContextualQueueTransport Transport => Configured.Transport;

    /// <summary>Where producers send the routed messages: the routing exchange.</summary>
    public Uri RouterAddress => Configured.RouterAddress;

    /// <summary>The context queues (not buckets) that exist now, in any state.</summary>
    public int ContextQueueCount => _byQueue.Values.Count(q => !q.IsBucket);

    /// <summary>Contexts with a queue (own or bucket) that is active now.</summary>
    public int ActiveContexts => _byKey.Count(p => IsRouted(p.Key, p.Value));

    /// <summary>All context and bucket queues that exist now.</summary>
    public IReadOnlyList<ContextQueueInfo> Queues
    {
        get
        {
            var now = Stopwatch.GetTimestamp();
            return _byQueue.Values.Select(q => new ContextQueueInfo(q.Name, q.SnapshotKeys(), q.State, q.IsStatic, q.IsBucket, Interlocked.Read(ref q.Completed))
            {
                Idle = Stopwatch.GetElapsedTime(Interlocked.Read(ref q.LastActivity), now),
                InFlight = Interlocked.Read(ref q.InFlight)
            }).ToArray();
        }
    }

    /// <summary>The receive endpoint handle of a context queue that exists now (tests: what a retired queue leaves in memory).</summary>
    internal HostReceiveEndpointHandle? HandleOf(string queue) => _byQueue.TryGetValue(queue, out var q) ? q.Handle : null;

    /// <summary>Context queues retired since start (idle, or by <see cref="RetireAsync(string, CancellationToken)"/>): drained and deleted.</summary>
    public long RetiredCount => Interlocked.Read(ref _retired);

    long _retired;

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
            context = Configured.Selector(message);
            return KeyOf(context);
        }
        catch (Exception exception)
        {
            ContextualLog.SelectorFailed(_logger, MessageType.Name, exception);
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
            context = Configured.Selector(message);
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
            ContextualLog.KeyShared(_logger, context, first, key, queue.Name);
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
                Metrics.Overflowed(Options.DefaultQueueName);
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
                ContextualLog.QueueNameTaken(_logger, context!, key, clash!, taken is null ? "?" : string.Join(", ", taken.SnapshotKeys()));
            return;
        }

        Track(CreateAsync(key, target, create, bind));
    }

    /// <summary>Keeps a creation until it ends, so that stopping waits for it.</summary>
    void Track(Task creation)
    {
        if (creation.IsCompleted)
            return;
        _creations.TryAdd(creation, 0);
        _ = creation.ContinueWith(static (t, creations) => ((ConcurrentDictionary<Task, byte>)creations!).TryRemove(t, out _), _creations,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Connects a new queue (or waits for its bucket) and binds the key; on failure, forgets it (its messages stay on the default queue).</summary>
    async Task CreateAsync(string key, ContextQueue target, ContextQueue? create, bool bind)
    {
        await Task.Yield();     // off the default queue's consume pipe
        try
        {
            if (create is not null)
                await ConnectAsync(create).ConfigureAwait(false);
            else
                await target.Ready.Task.WaitAsync(_stopping.Token).ConfigureAwait(false);
            if (bind)
            {
                await Transport.BindAsync(target.Name, key, Options, _stopping.Token).ConfigureAwait(false);
                target.Bound[key] = true;
            }
            if (!create?.IsBucket ?? true)
                ContextualLog.ContextCreated(_logger, key, target.Name, Transport.Name);
        }
        catch (Exception exception)
        {
            ContextualLog.CreateFailed(_logger, key, target.Name, exception);
            lock (_lock)
            {
                if (_byKey.TryRemove(new KeyValuePair<string, ContextQueue>(key, target)))
                    _contextOfKey.TryRemove(key, out _);
                if (create is not null)
                    _byQueue.TryRemove(new KeyValuePair<string, ContextQueue>(create.Name, create));
            }
        }
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
        Configured.ConfigureEndpoint?.Invoke(endpoint);
        // After the consumers: the queue receives only through the router (subscribing it to the message type
        // would deliver every publish to each context queue), and the options' concurrency wins.
        Transport.ConfigureContextEndpoint(endpoint, Options, queue.RoutingKey);
        ClaimConcurrency(endpoint, $"{nameof(ContextualQueueOptions)}.{nameof(ContextualQueueOptions.ConcurrentMessageLimit)}");
        endpoint.ConcurrentMessageLimit = Options.ConcurrentMessageLimit;
        endpoint.PrefetchCount = Options.ConcurrentMessageLimit;
    }

    internal void ConfigureDefaultEndpoint(IReceiveEndpointConfigurator endpoint)
    {
        endpoint.UseFilter(new DefaultQueueFilter(this));
        Configured.ConfigureEndpoint?.Invoke(endpoint);
        Transport.ConfigureDefaultEndpoint(endpoint, Options);
        ClaimConcurrency(endpoint, $"{nameof(ContextualQueueOptions)}.{nameof(ContextualQueueOptions.DefaultConcurrentMessageLimit)}");
        endpoint.ConcurrentMessageLimit = Options.DefaultConcurrentMessageLimit;
        endpoint.PrefetchCount = Options.DefaultConcurrentMessageLimit;
    }

    // The pattern sets its queues' concurrency after the user's endpoint callback: a pattern that would set it too
    // (UseSupervisor, UseThreadDelegate) in that callback fails the start naming both instead of being overwritten.
    static void ClaimConcurrency(IReceiveEndpointConfigurator endpoint, string option) =>
        EndpointClaims.Claim(endpoint, "UseContextualQueues", EndpointTakeover.Concurrency, EndpointTakeover.None,
            $"sets each of its queues' concurrent message limit and prefetch ({option})");

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
        // Creations under way see the cancellation (and end, forgetting their queue); none outlives the stop.
        await Task.WhenAll(_creations.Keys).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

}
