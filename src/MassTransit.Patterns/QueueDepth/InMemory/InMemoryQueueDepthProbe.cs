using System.Collections;
using System.Collections.Concurrent;
using MassTransit.InMemoryTransport.Configuration;
using MassTransit.Transports;

namespace MassTransit.Patterns.QueueDepth.InMemory;

/// <summary>
/// Queue depth for MassTransit's in-memory transport (and so for the test harness), by counting:
/// every message sent or published is counted against the queues its destination exchange reaches
/// (read from the transport's own topology), every message a receive endpoint starts and settles is
/// counted against that endpoint's queue. Ready is arrived minus started, unacknowledged is started
/// minus settled. It lets patterns that react to depth be tested without a broker.
/// </summary>
/// <remarks>
/// The in-memory transport holds no queue counter of its own that could be read: it hands each
/// message to its endpoint at once, where it waits for a concurrency slot. Counting sees exactly the
/// messages that pass through the bus's send, publish and receive observers, so register it before
/// the bus starts (<c>AddInMemoryQueueDepthProbe</c> does). Messages moved by the transport itself
/// (in-memory redelivery) are not arrivals; the count never goes below zero.
/// </remarks>
public sealed class InMemoryQueueDepthProbe : IQueueDepthProbe, ISendObserver, IPublishObserver, IReceiveObserver, IReceiveEndpointObserver
{
    readonly ConcurrentDictionary<string, QueueCounter> _queues = new(StringComparer.OrdinalIgnoreCase);
    readonly Func<IBusInstance?> _busInstance;
    readonly TimeProvider _time;
    volatile ExchangeRoutes? _routes;
    long _routesReadAt;

    // The topology changes as endpoints start and subscribers bind: a snapshot is trusted this long,
    // and a miss re-reads it at most this often (a publish nobody consumes must not re-read it each time).
    static readonly TimeSpan RoutesMaxAge = TimeSpan.FromSeconds(1);
    static readonly TimeSpan RoutesMinRefresh = TimeSpan.FromMilliseconds(50);

    /// <summary>Creates the probe; <paramref name="busInstance"/> gives the bus whose topology routes exchanges to queues.</summary>
    public InMemoryQueueDepthProbe(Func<IBusInstance?> busInstance, TimeProvider? time = null)
    {
        _busInstance = busInstance;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public string Name => "in-memory";

    /// <inheritdoc />
    public bool KnowsUnacknowledged => true;

    /// <inheritdoc />
    public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        cancellationToken.ThrowIfCancellationRequested();

        if (!_queues.TryGetValue(queue, out var counter) && !GetRoutes(refresh: false).KnowsQueue(queue) && !GetRoutes(refresh: true).KnowsQueue(queue))
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.QueueNotFound, "no such queue in the in-memory transport.");

        counter ??= _queues.GetOrAdd(queue, _ => new QueueCounter());
        var (ready, inFlight) = counter.Read();
        return Task.FromResult(new QueueDepthSample(queue, ready, inFlight, null, _time.GetUtcNow()));
    }

    void Arrived(Uri? destination)
    {
        var exchange = EntityName(destination);
        if (exchange is null)
            return;

        var queues = GetRoutes(refresh: false).QueuesOf(exchange);
        if (queues is null or { Count: 0 })
            queues = GetRoutes(refresh: true).QueuesOf(exchange);
        if (queues is null)
            return;

        foreach (var queue in queues)
            _queues.GetOrAdd(queue, _ => new QueueCounter()).Arrive();
    }

    ExchangeRoutes GetRoutes(bool refresh)
    {
        var routes = _routes;
        var age = _time.GetElapsedTime(Interlocked.Read(ref _routesReadAt));
        if (routes is not null && age < RoutesMaxAge && (!refresh || age < RoutesMinRefresh))
            return routes;

        var host = _busInstance()?.HostConfiguration as IInMemoryHostConfiguration;
        routes = host is null ? ExchangeRoutes.Empty : ExchangeRoutes.Read(host.TransportProvider.GetProbeResult().Results);
        _routes = routes;
        Interlocked.Exchange(ref _routesReadAt, _time.GetTimestamp());
        return routes;
    }

    static string? EntityName(Uri? address) => Addressing.AddressNames.EntityName(address);

    static string? QueueOf(ReceiveContext context) => EntityName(context.InputAddress);

    Task ISendObserver.PreSend<T>(SendContext<T> context) => Task.CompletedTask;

    Task ISendObserver.PostSend<T>(SendContext<T> context)
    {
        Arrived(context.DestinationAddress);
        return Task.CompletedTask;
    }

    Task ISendObserver.SendFault<T>(SendContext<T> context, Exception exception) => Task.CompletedTask;

    Task IPublishObserver.PrePublish<T>(PublishContext<T> context) => Task.CompletedTask;

    Task IPublishObserver.PostPublish<T>(PublishContext<T> context)
    {
        Arrived(context.DestinationAddress);
        return Task.CompletedTask;
    }

    Task IPublishObserver.PublishFault<T>(PublishContext<T> context, Exception exception) => Task.CompletedTask;

    Task IReceiveObserver.PreReceive(ReceiveContext context)
    {
        if (QueueOf(context) is { } queue)
            _queues.GetOrAdd(queue, _ => new QueueCounter()).Start();
        return Task.CompletedTask;
    }

    Task IReceiveObserver.PostReceive(ReceiveContext context) => Settle(context);

    Task IReceiveObserver.PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) => Task.CompletedTask;

    Task IReceiveObserver.ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) => Task.CompletedTask;

    Task IReceiveObserver.ReceiveFault(ReceiveContext context, Exception exception) => Settle(context);

    Task Settle(ReceiveContext context)
    {
        if (QueueOf(context) is { } queue)
            _queues.GetOrAdd(queue, _ => new QueueCounter()).Settle();
        return Task.CompletedTask;
    }

    // An endpoint that became ready has bound its queue: the topology snapshot is out of date.
    Task IReceiveEndpointObserver.Ready(ReceiveEndpointReady ready)
    {
        Interlocked.Exchange(ref _routesReadAt, 0);
        _routes = null;
        return Task.CompletedTask;
    }

    Task IReceiveEndpointObserver.Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    Task IReceiveEndpointObserver.Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    Task IReceiveEndpointObserver.Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;

    sealed class QueueCounter
    {
        long _arrived;
        long _started;
        long _settled;

        public void Arrive() => Interlocked.Increment(ref _arrived);

        public void Start() => Interlocked.Increment(ref _started);

        public void Settle() => Interlocked.Increment(ref _settled);

        public (long Ready, long InFlight) Read()
        {
            var settled = Interlocked.Read(ref _settled);
            var started = Interlocked.Read(ref _started);
            var arrived = Interlocked.Read(ref _arrived);
            // Messages not seen arriving (transport redelivery) would make ready negative.
            if (arrived < started)
            {
                Interlocked.Add(ref _arrived, started - arrived);
                arrived = started;
            }
            return (arrived - started, Math.Max(0, started - settled));
        }
    }

    /// <summary>Which queues each exchange of the in-memory fabric reaches, read from its probe.</summary>
    sealed class ExchangeRoutes
    {
        public static readonly ExchangeRoutes Empty = new(new Dictionary<string, HashSet<string>>(), new HashSet<string>());

        readonly Dictionary<string, HashSet<string>> _queuesByExchange;
        readonly HashSet<string> _queues;

        ExchangeRoutes(Dictionary<string, HashSet<string>> queuesByExchange, HashSet<string> queues)
        {
            _queuesByExchange = queuesByExchange;
            _queues = queues;
        }

        public IReadOnlyCollection<string>? QueuesOf(string exchange) => _queuesByExchange.TryGetValue(exchange, out var queues) ? queues : null;

        public bool KnowsQueue(string queue) => _queues.Contains(queue);

        public static ExchangeRoutes Read(IDictionary<string, object> probe)
        {
            var byExchange = new Dictionary<string, HashSet<string>>(StringComparer.OrdinalIgnoreCase);
            var queues = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var exchange in Scopes(probe, "exchange"))
                if (exchange.TryGetValue("name", out var name) && name is string exchangeName)
                {
                    var reached = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                    CollectQueues(exchange, reached);
                    byExchange[exchangeName] = reached;
                }
            foreach (var queue in Scopes(probe, "queue"))
                if (queue.TryGetValue("name", out var name) && name is string queueName)
                    queues.Add(queueName);
            foreach (var reached in byExchange.Values)
                queues.UnionWith(reached);
            return new ExchangeRoutes(byExchange, queues);
        }

        static void CollectQueues(IDictionary<string, object> exchange, HashSet<string> reached)
        {
            if (!exchange.TryGetValue("sinks", out var sinks) || sinks is not IDictionary<string, object> sinkScope)
                return;
            foreach (var queue in Children(sinkScope, "queue"))
                if (queue.TryGetValue("name", out var name) && name is string queueName)
                    reached.Add(queueName);
            foreach (var next in Children(sinkScope, "exchange"))
                CollectQueues(next, reached);
        }

        static IEnumerable<IDictionary<string, object>> Children(IDictionary<string, object> scope, string key)
        {
            if (!scope.TryGetValue(key, out var value))
                yield break;
            if (value is IDictionary<string, object> single)
                yield return single;
            else if (value is IEnumerable many)
                foreach (var item in many)
                    if (item is IDictionary<string, object> child)
                        yield return child;
        }

        // Top-level scopes of a kind anywhere in the probe tree (the fabric lists them under the host).
        static IEnumerable<IDictionary<string, object>> Scopes(IDictionary<string, object> root, string key)
        {
            foreach (var child in Children(root, key))
                yield return child;
            foreach (var (k, value) in root)
            {
                if (k == key || k == "sinks")
                    continue;
                var nested = value switch
                {
                    IDictionary<string, object> d => [d],
                    IEnumerable e and not string => e.OfType<IDictionary<string, object>>(),
                    _ => Enumerable.Empty<IDictionary<string, object>>()
                };
                foreach (var scope in nested)
                    foreach (var found in Scopes(scope, key))
                        yield return found;
            }
        }
    }
}
