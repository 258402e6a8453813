using System.Collections.Concurrent;
using System.Runtime.Serialization;
using MassTransit.Configuration;
using MassTransit.DependencyInjection;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// The brokers, their buses and health, and the send loop with failover. Starts a bus per broker from
/// the registrations made once (each bus gets its own registration context, so each configures every
/// endpoint), keeps retrying brokers that do not start, and reads every bus's health periodically.
/// </summary>
sealed partial class MultibrokerRuntime : IAsyncDisposable
{
    readonly MultibrokerConfigurator _configuration;
    readonly IServiceProvider _provider;
    readonly IContainerSelector _selector;
    readonly ILogger _logger;
    readonly TimeProvider _time;
    readonly MultibrokerMetrics _metrics;
    readonly BrokerSelection _selection;
    readonly ConcurrentDictionary<Type, Func<object, string?>?> _keyCache = new();
    readonly Lock _lifecycle = new();
    readonly Lock _configureLock = new();
    CancellationTokenSource? _stopping;
    Task[] _starters = [];
    Task? _healthLoop;
    TaskCompletionSource _enoughStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _startedCount;

    public MultibrokerRuntime(MultibrokerConfigurator configuration, IServiceProvider provider, IContainerSelector selector,
        ILogger<MultibrokerRuntime> logger, TimeProvider time, MultibrokerMetrics metrics)
    {
        _metrics = metrics;
        _configuration = configuration;
        _provider = provider;
        _selector = selector;
        _logger = logger;
        _time = time;
        Options = configuration.Options;
        Deduplicator = new MultibrokerDeduplicator(Options, time, metrics);
        Brokers = configuration.Brokers
            .Select((b, i) => new MultibrokerBroker(i, b.Name, b.Weight, b.Transport, new BrokerHealth(Options, time), metrics))
            .ToArray();
        _selection = new BrokerSelection(Options.Strategy, Brokers.Select(b => b.Name).ToArray(), Brokers.Select(b => b.Weight).ToArray());
    }

    public MultibrokerOptions Options { get; }

    /// <summary>Shared by every broker's bus of this process.</summary>
    public MultibrokerDeduplicator Deduplicator { get; }

    public IReadOnlyList<MultibrokerBroker> Brokers { get; }

    /// <summary>The key of a message from the selectors registered with <c>x.Key&lt;T&gt;</c> (its type, then base types and interfaces).</summary>
    public string? KeyOf(Type messageType, object message)
    {
        var selector = _keyCache.GetOrAdd(messageType, type =>
        {
            if (_configuration.Keys.TryGetValue(type, out var exact))
                return exact;
            for (var t = type.BaseType; t is not null; t = t.BaseType)
                if (_configuration.Keys.TryGetValue(t, out var inherited))
                    return inherited;
            foreach (var i in type.GetInterfaces())
                if (_configuration.Keys.TryGetValue(i, out var byInterface))
                    return byInterface;
            return null;
        });
        return selector?.Invoke(message);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_lifecycle)
        {
            if (_stopping is not null)
                return;
            _stopping = new CancellationTokenSource();
            _enoughStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _startedCount = 0;
        }
        _metrics.Track(this);
        if (Options.MinimumBrokersAtStart == 0)
            _enoughStarted.TrySetResult();
        var stopping = _stopping.Token;
        _starters = Brokers.Select(b => Task.Run(() => KeepStartingAsync(b, stopping), CancellationToken.None)).ToArray();
        try
        {
            await _enoughStarted.Task.WaitAsync(Options.StartTimeout + Options.RestartInterval, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw new InvalidOperationException(
                $"Multibroker: fewer than {Options.MinimumBrokersAtStart} broker(s) started within {Options.StartTimeout + Options.RestartInterval} " +
                $"({string.Join(", ", Brokers.Select(b => $"{b.Name}: {b.State} {b.LastFailure}"))}).");
        }
        _healthLoop = Task.Run(() => HealthLoopAsync(stopping), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        CancellationTokenSource? stopping;
        lock (_lifecycle)
        {
            stopping = _stopping;
            _stopping = null;
        }
        if (stopping is null)
            return;
        await stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_starters.Append(_healthLoop ?? Task.CompletedTask).Concat(_probes.Keys)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await Task.WhenAll(Brokers.Select(async b =>
        {
            var bus = b.BusControl;
            b.Attach(null);
            b.Health.Started(false, "stopped");
            if (bus is not null)
                await bus.StopAsync(cancellationToken).ConfigureAwait(false);
            await b.Transport.CloseProbeAsync().ConfigureAwait(false);
        })).ConfigureAwait(false);
        _metrics.Untrack(this);
        stopping.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    IBusControl CreateBus(MultibrokerBroker broker)
    {
        // MassTransit's registrations (definitions, endpoint settings) are not built for concurrent
        // configuration: the buses are configured one at a time, then start in parallel.
        lock (_configureLock)
            return CreateBusCore(broker);
    }

    IBusControl CreateBusCore(MultibrokerBroker broker)
    {
        var setter = _provider.GetRequiredService<Bind<IMultibrokerBus, ISetScopedConsumeContext>>().Value;
        var context = new BusRegistrationContext(_provider, _selector, setter);
        var bus = broker.Transport.CreateBus(broker.Name, context, (ctx, cfg) =>
        {
            if (Options.Deduplicate)
                Deduplicator.Configure(cfg);
            foreach (var callback in _configuration.BusCallbacks)
                callback(ctx, broker.Name, cfg);
        });
        bus.ConnectReceiveObserver(new CountingReceiveObserver(broker));
        lock (_observers)
            foreach (var observer in _observers)
                observer.Attach(bus);
        return bus;
    }

    readonly List<MultibrokerObserverLink> _observers = [];

    /// <summary>Connects a send or publish observer to every broker's bus, including buses (re)started later.</summary>
    public ConnectHandle ConnectObserver(Func<IBusControl, ConnectHandle> connect)
    {
        var link = new MultibrokerObserverLink(this, connect);
        lock (_observers)
        {
            _observers.Add(link);
            foreach (var bus in Brokers.Select(b => b.BusControl).OfType<IBusControl>())
                link.Attach(bus);
        }
        return link;
    }

    internal void Remove(MultibrokerObserverLink link)
    {
        lock (_observers)
            _observers.Remove(link);
    }

    async Task KeepStartingAsync(MultibrokerBroker broker, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            IBusControl? bus = null;
            string reason;
            broker.NextStartAt = 0;
            try
            {
                bus = CreateBus(broker);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(Options.StartTimeout);
                await bus.StartAsync(timeout.Token).ConfigureAwait(false);
                broker.Attach(bus);
                broker.Health.Started(true);
                broker.SwapRotation(true);
                MultibrokerLog.BrokerStarted(_logger, broker.Name, Options.Strategy, Brokers.Count);
                if (Interlocked.Increment(ref _startedCount) >= Options.MinimumBrokersAtStart)
                    _enoughStarted.TrySetResult();
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                reason = e is OperationCanceledException ? $"not started within {Options.StartTimeout}" : e.GetBaseException().Message;
            }
            catch (OperationCanceledException)
            {
                reason = "stopping";
            }

            broker.Health.Started(false, reason);
            if (bus is not null)
            {
                try
                {
                    await bus.StopAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // a bus that did not start may not stop cleanly either: it is dropped
                }
            }
            if (stopping.IsCancellationRequested)
                return;
            MultibrokerLog.BrokerStartFailed(_logger, broker.Name, reason, Options.RestartInterval);
            broker.NextStartAt = _time.GetTimestamp() + (long)(Options.RestartInterval.TotalSeconds * _time.TimestampFrequency);
            try
            {
                await Task.Delay(Options.RestartInterval, _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
