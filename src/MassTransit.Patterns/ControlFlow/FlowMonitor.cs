using System.Diagnostics.Metrics;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// Watches queue depths and tells producers to slow down or stop above the high watermark and to
/// resume below the low one. Each statement carries a lease and is renewed every third of it while
/// the monitor lives; a probe failure holds the current state (and still renews: the monitor is
/// alive, it just cannot see). Statements go to this process's producers directly and, unless
/// turned off, to other processes through the bus.
/// </summary>
public sealed partial class FlowMonitor : IHostedService
{
    readonly FlowMonitorOptions _options;
    readonly IQueueDepthMonitor _depth;
    readonly FlowControlStateStore _store;
    readonly IServiceProvider _services;
    readonly ILogger<FlowMonitor> _logger;
    readonly TimeProvider _time;
    readonly ControlFlowMetrics _metrics;
    readonly Guid _monitorId = NewId.NextGuid();
    readonly Dictionary<string, QueueFlow> _flows;
    readonly List<IDisposable> _subscriptions = [];
    long _sequence;

    /// <summary>Created by the container.</summary>
    public FlowMonitor(IOptions<FlowMonitorOptions> options, IQueueDepthMonitor depth, FlowControlStateStore store, IServiceProvider services,
        ILogger<FlowMonitor> logger, TimeProvider? time = null)
    {
        _options = options.Value;
        _depth = depth;
        _store = store;
        _services = services;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _flows = _options.Queues.ToDictionary(q => q.Queue, q => new QueueFlow(q,
            q.MessageTypes.Select(t => MessageUrn.ForTypeString(t)).ToArray()), StringComparer.Ordinal);
        _metrics = ControlFlowMetrics.From(services);
        _stateGauge = _metrics.ObserveStates(
            () => _flows.Values.Select(f => new Measurement<int>((int)f.State, new KeyValuePair<string, object?>(PatternsTags.Queue, f.Watched.Queue))));
    }

    readonly ObservableGauge<int> _stateGauge;

    /// <summary>The state the monitor holds for <paramref name="queue"/>.</summary>
    public FlowState StateOf(string queue) => _flows.TryGetValue(queue, out var flow) ? flow.State : FlowState.Normal;

    /// <summary>Every watched queue as the monitor holds it now: state, last depth and marks (a copy).</summary>
    public IReadOnlyList<FlowQueueSnapshot> Snapshot() =>
        _flows.Values.Select(f => new FlowQueueSnapshot(f.Watched.Queue, f.State, f.Depth, f.Watched.HighWatermark, f.Watched.LowWatermark,
            f.Watched.StopMark, f.ReadAt, f.ReadingFailed)).ToArray();

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var flow in _flows.Values)
            _subscriptions.Add(_depth.Subscribe(flow.Watched.Queue, (reading, ct) => OnReading(flow, reading, ct)));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        // No farewell statement: producers must cope with a monitor that dies without one, so the
        // lease is what lifts throttling, whether the stop is clean or not.
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
        _subscriptions.Clear();
        return Task.CompletedTask;
    }

    async Task OnReading(QueueFlow flow, QueueDepthReading reading, CancellationToken cancellationToken)
    {
        var previous = flow.State;
        var state = previous;
        long depth;
        if (reading.Sample is { } sample)
        {
            depth = sample.Measure(_options.Measure);
            state = FlowStateRules.Next(previous, depth, flow.Watched.HighWatermark, flow.Watched.LowWatermark, flow.Watched.StopMark);
            flow.Depth = depth;
        }
        else
            depth = flow.Depth;

        var now = _time.GetUtcNow();
        flow.ReadingFailed = reading.Sample is null;
        flow.ReadAt = now;
        var changed = state != previous;
        if (changed)
        {
            _metrics.Transitions.Add(1, new KeyValuePair<string, object?>(PatternsTags.Queue, flow.Watched.Queue),
                new KeyValuePair<string, object?>("masstransit.patterns.flow_state", state.ToString()));
            LogTransition(flow.Watched.Queue, previous, state, depth);
        }
        else if (now < flow.RenewAt)
            return;

        var statement = new FlowControlStateChanged(_monitorId, Interlocked.Increment(ref _sequence), flow.Watched.Queue, state, depth,
            flow.Watched.HighWatermark, flow.Watched.LowWatermark, flow.Watched.StopMark, flow.MessageTypes, now + _options.Lease);
        flow.RenewAt = now + _options.Lease / 3;
        _store.Apply(statement);
        // Only now does the monitor report the new state: whoever reads StateOf(queue) == Slow can rely
        // on the in-process gate already holding that statement.
        flow.State = state;

        if (!_options.PublishToBus)
            return;
        try
        {
            await _services.GetRequiredService<IBus>().Publish(statement, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // The next reading publishes again: a state change is repeated at every renewal.
            flow.RenewAt = now;
            LogPublishFailed(flow.Watched.Queue, exception);
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Flow control of {Queue}: {Previous} -> {State} at depth {Depth}.")]
    partial void LogTransition(string queue, FlowState previous, FlowState state, long depth);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "Flow control statement for {Queue} could not be published; retrying at the next reading.")]
    partial void LogPublishFailed(string queue, Exception exception);

    sealed class QueueFlow(WatchedQueue watched, string[] messageTypes)
    {
        public WatchedQueue Watched { get; } = watched;
        public string[] MessageTypes { get; } = messageTypes;
        public FlowState State { get; set; }
        public long Depth { get; set; }
        public DateTimeOffset RenewAt { get; set; }
        public DateTimeOffset? ReadAt { get; set; }
        public bool ReadingFailed { get; set; }
    }
}
