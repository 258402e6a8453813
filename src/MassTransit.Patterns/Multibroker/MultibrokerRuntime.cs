using System.Collections.Concurrent;
using System.Runtime.Serialization;
using MassTransit.Configuration;
using MassTransit.DependencyInjection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// The brokers, their buses and health, and the send loop with failover. Starts a bus per broker from
/// the registrations made once (each bus gets its own registration context, so each configures every
/// endpoint), keeps retrying brokers that do not start, and reads every bus's health periodically.
/// </summary>
sealed class MultibrokerRuntime : IAsyncDisposable
{
    readonly MultibrokerConfigurator _configuration;
    readonly IServiceProvider _provider;
    readonly IContainerSelector _selector;
    readonly ILogger _logger;
    readonly TimeProvider _time;
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
        ILogger<MultibrokerRuntime> logger, TimeProvider time)
    {
        _configuration = configuration;
        _provider = provider;
        _selector = selector;
        _logger = logger;
        _time = time;
        Options = configuration.Options;
        Deduplicator = new MultibrokerDeduplicator(Options, time);
        Brokers = configuration.Brokers
            .Select((b, i) => new MultibrokerBroker(i, b.Name, b.Weight, b.Transport, new BrokerHealth(Options, time)))
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
        MultibrokerMetrics.Track(this);
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
            await Task.WhenAll(_starters.Append(_healthLoop ?? Task.CompletedTask)).ConfigureAwait(false);
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
        })).ConfigureAwait(false);
        MultibrokerMetrics.Untrack(this);
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

    readonly List<ObserverLink> _observers = [];

    /// <summary>Connects a send or publish observer to every broker's bus, including buses (re)started later.</summary>
    public ConnectHandle ConnectObserver(Func<IBusControl, ConnectHandle> connect)
    {
        var link = new ObserverLink(this, connect);
        lock (_observers)
        {
            _observers.Add(link);
            foreach (var bus in Brokers.Select(b => b.BusControl).OfType<IBusControl>())
                link.Attach(bus);
        }
        return link;
    }

    sealed class ObserverLink(MultibrokerRuntime runtime, Func<IBusControl, ConnectHandle> connect) : ConnectHandle
    {
        readonly List<ConnectHandle> _handles = [];

        public void Attach(IBusControl bus)
        {
            lock (_handles)
                _handles.Add(connect(bus));
        }

        public void Disconnect()
        {
            lock (runtime._observers)
                runtime._observers.Remove(this);
            lock (_handles)
            {
                foreach (var handle in _handles)
                    handle.Disconnect();
                _handles.Clear();
            }
        }

        public void Dispose() => Disconnect();
    }

    async Task KeepStartingAsync(MultibrokerBroker broker, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            IBusControl? bus = null;
            string reason;
            try
            {
                bus = CreateBus(broker);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(Options.StartTimeout);
                await bus.StartAsync(timeout.Token).ConfigureAwait(false);
                broker.Attach(bus);
                broker.Health.Started(true);
                broker.WasInRotation = true;
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

    async Task HealthLoopAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Options.HealthCheckInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                CheckHealth();
                Deduplicator.Sweep();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Reads every started bus's health once and records brokers leaving or rejoining the rotation.</summary>
    internal void CheckHealth()
    {
        foreach (var broker in Brokers)
        {
            if (broker.BusControl is { } bus)
            {
                bool connected;
                string? reason;
                try
                {
                    connected = broker.Transport.IsConnected(bus, out reason);
                }
                catch (Exception e)
                {
                    connected = false;
                    reason = e.Message;
                }
                broker.Health.Observe(connected, reason);
            }
            var inRotation = broker.Health.InRotation;
            if (inRotation == broker.WasInRotation)
                continue;
            broker.WasInRotation = inRotation;
            if (inRotation)
            {
                MultibrokerMetrics.Rejoined(broker.Name);
                MultibrokerLog.BrokerRejoined(_logger, broker.Name);
            }
            else
            {
                MultibrokerMetrics.Ejected(broker.Name, broker.State.ToString().ToLowerInvariant());
                MultibrokerLog.BrokerLeft(_logger, broker.Name, broker.State, broker.LastFailure ?? "");
            }
        }
    }

    /// <summary>
    /// Sends a message through one broker (only the first when <paramref name="retry"/> is false): the first in the strategy's order that confirms within
    /// <see cref="MultibrokerOptions.SendTimeout"/>. A failed attempt counts against that broker's
    /// health and the next broker is tried with the same message id (the caller's pipe keeps it).
    /// </summary>
    public async Task<MultibrokerBroker> DeliverAsync(string? key, Func<IBus, int, CancellationToken, Task> attempt, Func<Guid?> messageId,
        CancellationToken cancellationToken, bool retry = true)
    {
        var inRotation = new bool[Brokers.Count];
        for (var i = 0; i < inRotation.Length; i++)
            inRotation[i] = Brokers[i].Health.InRotation;
        var order = _selection.Order(inRotation, key);
        var limit = !retry ? 1 : Options.MaxSendAttempts == 0 ? Brokers.Count : Options.MaxSendAttempts;
        Exception? last = null;
        string? lastReason = null;
        MultibrokerBroker? failed = null;
        var tried = 0;
        foreach (var index in order)
        {
            if (tried == limit)
                break;
            var broker = Brokers[index];
            var bus = broker.BusControl;
            if (bus is null)
                continue;
            if (failed is not null)
            {
                MultibrokerMetrics.Failover(failed.Name, broker.Name);
                MultibrokerLog.SendFailedOver(_logger, messageId(), failed.Name, lastReason ?? "", broker.Name);
            }
            tried++;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.SendTimeout);
            try
            {
                await attempt(bus, tried - 1, timeout.Token).ConfigureAwait(false);
                broker.Health.RecordSuccess();
                broker.CountSent();
                return broker;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && IsBrokerFault(e))
            {
                last = e;
                lastReason = e is OperationCanceledException ? $"no confirm within {Options.SendTimeout}" : e.GetBaseException().Message;
                broker.CountFailure();
                if (broker.Health.RecordFailure(lastReason) && broker.WasInRotation)
                {
                    broker.WasInRotation = false;
                    MultibrokerMetrics.Ejected(broker.Name, "send_failure");
                    MultibrokerLog.BrokerLeft(_logger, broker.Name, BrokerState.Ejected, lastReason);
                }
                failed = broker;
            }
        }
        MultibrokerLog.SendFailed(_logger, messageId(), tried);
        throw new MultibrokerSendException(tried, Brokers.Select(b => $"{b.Name}: {b.State}").ToArray(), last);
    }

    /// <summary>Faults of the message itself (it would fail on every broker) are not the broker's: no failover, no ejection.</summary>
    static bool IsBrokerFault(Exception e) =>
        e is not (ArgumentException or SerializationException or ConfigurationException or RequestException);

    sealed class CountingReceiveObserver(MultibrokerBroker broker) : IReceiveObserver
    {
        public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostReceive(ReceiveContext context)
        {
            broker.CountReceived();
            return Task.CompletedTask;
        }

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
            where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
            where T : class => Task.CompletedTask;

        public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
    }
}

/// <summary>Thrown when no broker confirmed a message: every broker tried failed (or none had started).</summary>
public sealed class MultibrokerSendException(int attempts, IReadOnlyList<string> brokers, Exception? innerException)
    : MassTransitException($"No broker confirmed the message after {attempts} attempt(s) ({string.Join(", ", brokers)}). " +
        "It may still have reached a broker that failed before confirming: send it again with the same message id.", innerException)
{
    /// <summary>Brokers tried.</summary>
    public int Attempts { get; } = attempts;
}
