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

    /// <summary>
    /// Reads every started bus's health once, starts the probes that are due (an ejected broker whose
    /// ejection is over, a broker in rotation every <see cref="MultibrokerOptions.ProbeInterval"/>; they
    /// run in the background, bounded by <see cref="MultibrokerOptions.ProbeTimeout"/>) and records
    /// brokers leaving or rejoining the rotation.
    /// </summary>
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
                if (broker.Health.TryBeginProbe())
                    TrackProbe(ProbeAsync(broker, bus));
            }
            NoteRotation(broker, broker.State.ToString().ToLowerInvariant());
        }
    }

    readonly ConcurrentDictionary<Task, byte> _probes = new();

    void TrackProbe(Task probe)
    {
        _probes[probe] = 0;
        _ = probe.ContinueWith(t => _probes.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>One probe of one broker, bounded by the probe timeout whatever the transport does; its outcome settles the broker's health.</summary>
    async Task ProbeAsync(MultibrokerBroker broker, IBusControl bus)
    {
        await Task.Yield();
        string? failure = null;
        using var timeout = new CancellationTokenSource(Options.ProbeTimeout, _time);
        Task probe;
        try
        {
            probe = broker.Transport.ProbeAsync(bus, timeout.Token);
        }
        catch (Exception e)
        {
            probe = Task.FromException(e);
        }
        try
        {
            await probe.WaitAsync(Options.ProbeTimeout, _time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The wait's own timeout, or the probe's, which may complete (faulted) in the same instant: both mean no answer.
            failure = $"no answer to a probe within {Options.ProbeTimeout}";
            AbandonedTask.Observe(probe);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            failure = $"no answer to a probe within {Options.ProbeTimeout}";
        }
        catch (Exception e)
        {
            failure = $"probe failed: {e.GetBaseException().Message}";
        }

        if (failure is null)
        {
            broker.Health.ProbeSucceeded();
            NoteRotation(broker, "probe");
            return;
        }
        MultibrokerMetrics.ProbeFailed(broker.Name);
        var wasIn = broker.Health.InRotation;
        if (broker.Health.ProbeFailed(failure) && !wasIn)
            MultibrokerLog.BrokerStillUnanswered(_logger, broker.Name, failure, broker.Health.EjectedFor);
        NoteRotation(broker, "probe_failure");
    }

    /// <summary>Logs and counts a broker leaving or rejoining the rotation, once per change.</summary>
    void NoteRotation(MultibrokerBroker broker, string cause)
    {
        var inRotation = broker.Health.InRotation;
        if (!broker.SwapRotation(inRotation))
            return;
        if (inRotation)
        {
            MultibrokerMetrics.Rejoined(broker.Name);
            MultibrokerLog.BrokerRejoined(_logger, broker.Name);
        }
        else
        {
            MultibrokerMetrics.Ejected(broker.Name, cause);
            MultibrokerLog.BrokerLeft(_logger, broker.Name, broker.State, broker.LastFailure ?? "");
        }
    }

    /// <summary>A broker's state for an error message: why it is out, and when it is tried next.</summary>
    string Describe(MultibrokerBroker broker)
    {
        var state = broker.State;
        var reason = broker.LastFailure ?? "no reason recorded";
        switch (state)
        {
            case BrokerState.Starting:
                var next = broker.NextStartAt;
                return next == 0
                    ? $"{broker.Name}: Starting (its bus is starting now)"
                    : $"{broker.Name}: Starting (not started: {reason}; next start attempt in {Math.Max(0, (next - _time.GetTimestamp()) / (double)_time.TimestampFrequency):0.0} s)";
            case BrokerState.Disconnected:
                return $"{broker.Name}: Disconnected ({reason}; back once its bus reconnects)";
            case BrokerState.Ejected:
                return $"{broker.Name}: Ejected ({reason}; probed again in {broker.Health.EjectedFor.TotalSeconds:0.0} s)";
            case BrokerState.Probing:
                return $"{broker.Name}: Probing ({reason}; back once a probe answers)";
            default:
                return $"{broker.Name}: {state}";
        }
    }

    sealed record Attempt(MultibrokerBroker Broker, Task Task, CancellationTokenSource Timeout, long Started)
    {
        /// <summary>Its wait reached the hedge delay (a hedge started because of it).</summary>
        public bool Overdue { get; set; }
    }

    /// <summary>
    /// Sends a message through one broker (only the first when <paramref name="retry"/> is false): the
    /// first in the strategy's order that confirms within <see cref="MultibrokerOptions.SendTimeout"/>. A
    /// failed attempt counts against that broker's health and the next broker is tried with the same
    /// message id (the caller's pipe keeps it). An attempt without a confirm after
    /// <see cref="MultibrokerOptions.HedgeDelay"/> is hedged: the next broker gets the message too, the
    /// first confirm wins, and the slow attempt is cancelled and counted against its broker.
    /// </summary>
    public async Task<MultibrokerBroker> DeliverAsync(string? key, Func<IBus, int, CancellationToken, Task> attempt, Func<Guid?> messageId,
        CancellationToken cancellationToken, bool retry = true)
    {
        var inRotation = new bool[Brokers.Count];
        for (var i = 0; i < inRotation.Length; i++)
            inRotation[i] = Brokers[i].Health.InRotation;
        var order = _selection.Order(inRotation, key);
        var limit = !retry ? 1 : Options.MaxSendAttempts == 0 ? Brokers.Count : Options.MaxSendAttempts;
        // A keyed message under KeyHash is not hedged: per-key order comes first (it still fails over at SendTimeout).
        var hedgeDelay = retry && !(Options.Strategy == MultibrokerStrategy.KeyHash && key is not null) ? Options.HedgeDelay : null;
        var running = new List<Attempt>(2);
        var position = 0;
        var tried = 0;
        Exception? last = null;
        string? lastReason = null;
        MultibrokerBroker? failed = null;
        MultibrokerBroker? slow = null;
        var startNext = true;

        // The next broker in the order that has a bus, or null.
        MultibrokerBroker? NextCandidate(bool take)
        {
            for (var i = position; i < order.Length; i++)
                if (Brokers[order[i]].BusControl is not null)
                {
                    if (take)
                        position = i + 1;
                    return Brokers[order[i]];
                }
            if (take)
                position = order.Length;
            return null;
        }

        try
        {
            while (true)
            {
                if (startNext)
                {
                    startNext = false;
                    if (tried < limit && NextCandidate(take: true) is { } broker && broker.BusControl is { } bus)
                    {
                        if (failed is not null)
                        {
                            MultibrokerMetrics.Failover(failed.Name, broker.Name);
                            MultibrokerLog.SendFailedOver(_logger, messageId(), failed.Name, lastReason ?? "", broker.Name);
                            failed = null;
                        }
                        else if (slow is not null)
                        {
                            MultibrokerMetrics.Hedged(slow.Name, broker.Name);
                            MultibrokerLog.SendHedged(_logger, messageId(), slow.Name, hedgeDelay ?? TimeSpan.Zero, broker.Name);
                            slow = null;
                        }
                        tried++;
                        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        timeout.CancelAfter(Options.SendTimeout);
                        Task task;
                        try
                        {
                            task = attempt(bus, tried - 1, timeout.Token);
                        }
                        catch (Exception e)
                        {
                            task = Task.FromException(e);
                        }
                        running.Add(new Attempt(broker, task, timeout, _time.GetTimestamp()));
                    }
                    else if (running.Count == 0)
                        break;
                }

                // Completes when an attempt completes, and never throws itself (the attempts' outcomes are read below).
                Task any = running.Count == 1 ? Task.WhenAny(running[0].Task) : Task.WhenAny(running.Select(a => a.Task));
                if (hedgeDelay is { } delay && tried < limit && NextCandidate(take: false) is not null)
                {
                    var wait = delay - _time.GetElapsedTime(running[^1].Started);
                    var hedge = wait <= TimeSpan.Zero;
                    if (!hedge)
                    {
                        try
                        {
                            await any.WaitAsync(wait, _time, cancellationToken).ConfigureAwait(false);
                        }
                        catch (TimeoutException) when (!any.IsCompleted)
                        {
                            hedge = true;
                        }
                    }
                    if (hedge)
                    {
                        running[^1].Overdue = true;
                        slow = running[^1].Broker;
                        startNext = true;
                        continue;
                    }
                }
                else
                    await any.WaitAsync(cancellationToken).ConfigureAwait(false);

                // Settle what has completed: a confirm wins, a failure moves on to the next broker.
                foreach (var done in running.Where(a => a.Task.IsCompleted).ToArray())
                {
                    running.Remove(done);
                    done.Timeout.Dispose();
                    if (done.Task.IsCompletedSuccessfully)
                    {
                        done.Broker.Health.RecordSuccess();
                        done.Broker.CountSent();
                        NoteRotation(done.Broker, "send");
                        var losers = running.ToArray();
                        running.Clear();
                        foreach (var loser in losers)
                            Outpaced(loser, done.Broker);
                        return done.Broker;
                    }
                    var e = done.Task.Exception?.GetBaseException() ?? new OperationCanceledException("the attempt was cancelled");
                    if (cancellationToken.IsCancellationRequested)
                        throw new OperationCanceledException(cancellationToken);
                    if (!IsBrokerFault(e))
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
                    last = e;
                    lastReason = e is OperationCanceledException ? $"no confirm within {Options.SendTimeout}" : e.Message;
                    done.Broker.CountFailure();
                    if (done.Broker.Health.RecordFailure(lastReason))
                        NoteRotation(done.Broker, "send_failure");
                    failed = done.Broker;
                    slow = null;
                    startNext = true;
                }
            }
        }
        finally
        {
            foreach (var abandoned in running)
                Abandon(abandoned);
        }
        MultibrokerLog.SendFailed(_logger, messageId(), tried);
        throw new MultibrokerSendException(tried, Brokers.Select(Describe).ToArray(), last);
    }

    /// <summary>An attempt still waiting when another broker confirmed the message: cancelled, and a failure of its broker if it was hedged (overdue).</summary>
    void Outpaced(Attempt loser, MultibrokerBroker winner)
    {
        var waited = _time.GetElapsedTime(loser.Started);
        Abandon(loser);
        if (!loser.Overdue)
            return;
        loser.Broker.CountFailure();
        if (loser.Broker.Health.RecordFailure($"no confirm within {waited.TotalSeconds:0.0##} s while {winner.Name} confirmed the same message"))
            NoteRotation(loser.Broker, "slow");
    }

    static void Abandon(Attempt attempt)
    {
        attempt.Timeout.Cancel();
        _ = attempt.Task.ContinueWith(static (t, timeout) =>
        {
            _ = t.Exception;
            ((CancellationTokenSource)timeout!).Dispose();
        }, attempt.Timeout, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
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

/// <summary>
/// Thrown when no broker confirmed a message: every broker tried failed, or no attempt could be made
/// at all (no broker's bus had started; <see cref="Attempts"/> is 0 and nothing was sent). The message
/// names each broker with its state, why it is out of rotation and when it is tried next.
/// </summary>
public sealed class MultibrokerSendException(int attempts, IReadOnlyList<string> brokers, Exception? innerException)
    : MassTransitException(MessageOf(attempts, brokers), innerException)
{
    /// <summary>Attempts made (hedges included); 0 when no broker could be tried, and nothing was sent.</summary>
    public int Attempts { get; } = attempts;

    /// <summary>Each broker with its state when the send gave up.</summary>
    public IReadOnlyList<string> Brokers { get; } = brokers;

    static string MessageOf(int attempts, IReadOnlyList<string> brokers) =>
        attempts == 0
            ? $"No attempt was made: no broker's bus is started ({string.Join("; ", brokers)}). Nothing was sent: send the message again later."
            : $"No broker confirmed the message after {attempts} attempt(s) ({string.Join("; ", brokers)}). " +
              "It may still have reached a broker that failed before confirming: send it again with the same message id.";
}
