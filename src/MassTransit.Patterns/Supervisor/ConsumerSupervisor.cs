using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor.Fleet;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Supervisor;

/// <summary>
/// The supervisor of one receive endpoint: every poll interval it reads the queue's depth through
/// <see cref="IQueueDepthProbe"/>, decides the consumers needed (alone with
/// <see cref="SupervisorPolicy"/>, or through the fleet saga) and sets the endpoint's
/// <see cref="ElasticConcurrencyLimit"/>. A failed reading holds the level, is logged and counted.
/// It is a hosted component of its endpoint: started when the endpoint is ready, stopped when it stops.
/// </summary>
internal sealed partial class ConsumerSupervisor : IConsumerSupervisor, IHostedService, IAsyncDisposable
{
    readonly IQueueDepthProbe _probe;
    readonly BoundedProbeCall _depth;
    readonly ILogger _logger;
    readonly TimeProvider _time;
    readonly ElasticConcurrencyLimit _gate;
    readonly Func<IRequestClient<ReportSupervisorInstance>>? _fleetClient;
    readonly SupervisorInstruments? _instruments;
    readonly KeyValuePair<string, object?> _queueTag;
    readonly ScalingRules _rules;
    readonly string _instanceId;
    readonly object _lifecycle = new();
    readonly object _accounting = new();
    ScalingState _state;
    CancellationTokenSource? _stopping;
    Task? _loop;
    SupervisorTick? _lastTick;
    readonly SupervisorTick[] _recent;
    readonly Lock _recentLock = new();
    int _recentNext;
    int _recentCount;
    long _ticks;
    long _probeFailures;
    int _probeFailuresInARow;
    long _fleetFailures;
    int _lastFleetSize = 1;
    double _consumerSeconds;
    DateTimeOffset? _integratedUntil;

    /// <summary>Creates the supervisor of <paramref name="queue"/> over <paramref name="gate"/>.</summary>
    /// <param name="queue">The queue to read.</param>
    /// <param name="options">Valid options.</param>
    /// <param name="gate">The endpoint's gate; its limit is set to <see cref="SupervisorOptions.MinConsumers"/>.</param>
    /// <param name="probe">The depth probe.</param>
    /// <param name="logger">Where decisions and failures are logged.</param>
    /// <param name="time">The clock of the poll loop and the cool-down; default the system clock.</param>
    /// <param name="fleetClient">Gives the request client for the fleet saga; required in fleet mode.</param>
    /// <param name="instruments">Where it records its metrics (none when null).</param>
    internal ConsumerSupervisor(string queue, SupervisorOptions options, ElasticConcurrencyLimit gate, IQueueDepthProbe probe, ILogger logger,
        TimeProvider? time = null, Func<IRequestClient<ReportSupervisorInstance>>? fleetClient = null, SupervisorInstruments? instruments = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        options.EnsureValid();
        if (options.Fleet is not null && fleetClient is null)
            throw new ArgumentNullException(nameof(fleetClient), "Fleet mode needs a request client for the supervisor saga.");
        Queue = queue;
        Options = options;
        _gate = gate;
        _probe = probe;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _depth = new BoundedProbeCall(probe, queue, _time);
        _fleetClient = fleetClient;
        _instruments = instruments;
        _queueTag = new KeyValuePair<string, object?>(PatternsTags.Queue, queue);
        _rules = options.Rules;
        _instanceId = options.Fleet?.InstanceId ?? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}";
        _state = new ScalingState(options.MinConsumers);
        _recent = new SupervisorTick[options.TickHistorySize];
        _gate.SetLimit(options.MinConsumers);
    }

    /// <inheritdoc />
    public string Queue { get; }

    /// <inheritdoc />
    public SupervisorOptions Options { get; }

    /// <summary>This instance's id in the fleet.</summary>
    public string InstanceId => _instanceId;

    /// <inheritdoc />
    public int Limit => _gate.Limit;

    /// <inheritdoc />
    public int Active => _gate.Active;

    /// <inheritdoc />
    public int Waiting => _gate.Waiting;

    /// <inheritdoc />
    public int PeakActive => _gate.PeakActive;

    /// <inheritdoc />
    public long Ticks => Interlocked.Read(ref _ticks);

    /// <inheritdoc />
    public long ProbeFailures => Interlocked.Read(ref _probeFailures);

    /// <inheritdoc />
    public long FleetFailures => Interlocked.Read(ref _fleetFailures);

    /// <inheritdoc />
    public double ConsumerSeconds
    {
        get
        {
            lock (_accounting)
                return _consumerSeconds + (_integratedUntil is { } since ? _gate.Limit * (_time.GetUtcNow() - since).TotalSeconds : 0);
        }
    }

    /// <inheritdoc />
    public SupervisorTick? LastTick => Volatile.Read(ref _lastTick);

    /// <inheritdoc />
    public IReadOnlyList<SupervisorTick> RecentTicks
    {
        get
        {
            lock (_recentLock)
            {
                var ticks = new SupervisorTick[_recentCount];
                var first = (_recentNext - _recentCount + _recent.Length) % Math.Max(1, _recent.Length);
                for (var i = 0; i < ticks.Length; i++)
                    ticks[i] = _recent[(first + i) % _recent.Length];
                return ticks;
            }
        }
    }

    /// <inheritdoc />
    public event Action<SupervisorTick>? Ticked;

    /// <summary>Starts the poll loop (once; a second start while running does nothing).</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        lock (_lifecycle)
        {
            if (_loop is not null)
                return Task.CompletedTask;
            _stopping = new CancellationTokenSource();
            var token = _stopping.Token;
            lock (_accounting)
                Integrate(_time.GetUtcNow());
            _loop = Task.Run(() => RunAsync(token), CancellationToken.None);
        }
        LogStarted(Queue, Options.MinConsumers, Options.MaxConsumers, Options.Fleet is null ? "alone" : "with the fleet saga");
        return Task.CompletedTask;
    }

    /// <summary>Stops the poll loop and waits for the current look to end. The limit stays where it is.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        Task? loop;
        CancellationTokenSource? stopping;
        lock (_lifecycle)
        {
            loop = _loop;
            stopping = _stopping;
            _loop = null;
            _stopping = null;
        }
        if (loop is null || stopping is null)
            return;
        await stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            stopping.Dispose();
            lock (_accounting)
            {
                Integrate(_time.GetUtcNow());
                _integratedUntil = null;
            }
        }
    }

    /// <summary>Opens the gate to <see cref="SupervisorOptions.MaxConsumers"/>, so what the endpoint holds drains quickly while it stops.</summary>
    internal void OpenForDrain() => _gate.SetLimit(Options.MaxConsumers);

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    async Task RunAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.PollInterval, _time);
        try
        {
            do
            {
                try
                {
                    await TickAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogTickFailed(Queue, exception);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the look in progress was abandoned.
        }
    }

    /// <summary>One look: read the depth, decide, apply, record.</summary>
    internal async Task TickAsync(CancellationToken cancellationToken)
    {
        var (sample, failure) = await ReadDepthAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var previous = _gate.Limit;
        var waiting = _gate.Waiting;
        long? depth = sample is { } s ? s.Measure(Options.DepthMeasure) + (Options.DepthMeasure == DepthMeasure.Ready ? waiting : 0) : null;

        if (failure is not null)
        {
            Interlocked.Increment(ref _probeFailures);
            _instruments?.ProbeFailures.Add(1, _queueTag, SupervisorInstruments.PatternTag,
                new KeyValuePair<string, object?>(PatternsTags.Outcome, failure.Failure.ToString()));
            if (++_probeFailuresInARow == 1)
                LogProbeFailedHolding(Queue, _probe.Name, failure.Failure, previous, failure.Message);
            else
                LogProbeStillFailing(Queue, _probeFailuresInARow, previous, failure.Message);
            // No evidence while blind: a cool-down in progress starts again from the next good reading.
            _state = new ScalingState(_state.Level);
        }
        else if (_probeFailuresInARow > 0)
        {
            LogProbeRecovered(Queue, _probeFailuresInARow);
            _probeFailuresInARow = 0;
        }

        int wanted;
        string? fleetFailure = null;
        int? fleetInstances = null, fleetTarget = null;
        if (_fleetClient is not null)
        {
            var answer = await AskFleetAsync(sample, failure, waiting, previous, cancellationToken).ConfigureAwait(false);
            if (answer is { } share)
            {
                wanted = share.Share;
                fleetInstances = share.Instances;
                fleetTarget = share.Target;
                _state = new ScalingState(Math.Clamp(share.Share, Options.MinConsumers, Options.MaxConsumers));
            }
            else
            {
                fleetFailure = $"the supervisor saga did not answer ({FleetFailures} in a row)";
                wanted = previous;
                // Alone after too many silences: its own reading, divided by the last fleet size it was told.
                if (depth is { } d && FleetFailures >= Options.Fleet!.FallbackAfterFailures)
                    wanted = DecideAlone(d, now, _lastFleetSize);
            }
        }
        else
        {
            wanted = depth is { } d ? DecideAlone(d, now, Options.InstanceCount) : previous;
        }

        var limit = _state.Level;
        lock (_accounting)
        {
            // What the previous limit cost up to now is counted before it changes.
            Integrate(now);
            if (limit != previous)
                _gate.SetLimit(limit);
        }
        if (limit != previous)
        {
            var direction = limit > previous ? "up" : "down";
            _instruments?.Decisions.Add(1, _queueTag, SupervisorInstruments.PatternTag, new KeyValuePair<string, object?>(SupervisorInstruments.DirectionTag, direction));
            LogScaled(Queue, direction, previous, limit, depth, _gate.Active);
        }

        var active = _gate.Active;
        _instruments?.Limit.Record(limit, _queueTag, SupervisorInstruments.PatternTag);
        _instruments?.Active.Record(active, _queueTag, SupervisorInstruments.PatternTag);
        _instruments?.Waiting.Record(_gate.Waiting, _queueTag, SupervisorInstruments.PatternTag);
        if (depth is { } observed)
            _instruments?.Depth.Record(observed, _queueTag, SupervisorInstruments.PatternTag);

        var tick = new SupervisorTick(now, depth, wanted, limit, previous, active, _gate.Waiting,
            limit > previous ? ScalingDirection.Up : limit < previous ? ScalingDirection.Down : ScalingDirection.Hold,
            failure?.Message ?? fleetFailure, fleetInstances, fleetTarget);
        Volatile.Write(ref _lastTick, tick);
        Remember(tick);
        Interlocked.Increment(ref _ticks);
        Ticked?.Invoke(tick);
    }

    void Remember(SupervisorTick tick)
    {
        if (_recent.Length == 0)
            return;
        lock (_recentLock)
        {
            _recent[_recentNext] = tick;
            _recentNext = (_recentNext + 1) % _recent.Length;
            _recentCount = Math.Min(_recentCount + 1, _recent.Length);
        }
    }

    int DecideAlone(long depth, DateTimeOffset now, int instances)
    {
        var rules = instances <= 1 ? _rules : _rules with { MessagesPerConsumer = (int)Math.Min(int.MaxValue, (long)_rules.MessagesPerConsumer * instances) };
        var decision = SupervisorPolicy.Decide(_state, depth, now, rules);
        _state = decision.State;
        return decision.Wanted;
    }
}
