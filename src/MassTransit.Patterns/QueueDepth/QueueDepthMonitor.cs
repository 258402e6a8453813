using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.QueueDepth;

/// <summary>
/// Polls <see cref="IQueueDepthProbe"/> for each watched queue on a fixed interval, records the
/// depth on the <c>MassTransit.Patterns</c> meter and hands each reading to its subscribers. A
/// probe failure is reported as a failed reading (logged and counted), never as depth zero.
/// </summary>
sealed partial class QueueDepthMonitor : BackgroundService, IQueueDepthMonitor
{
    readonly IQueueDepthProbe _probe;
    readonly QueueDepthMonitorOptions _options;
    readonly ILogger<QueueDepthMonitor> _logger;
    readonly TimeProvider _time;
    readonly QueueDepthMetrics _metrics;
    readonly ConcurrentDictionary<string, QueueState> _queues = new(StringComparer.Ordinal);

    /// <summary>Creates the monitor over a probe.</summary>
    public QueueDepthMonitor(IQueueDepthProbe probe, IOptions<QueueDepthMonitorOptions> options, ILogger<QueueDepthMonitor> logger, QueueDepthMetrics metrics,
        TimeProvider? time = null)
    {
        _probe = probe;
        _metrics = metrics;
        _options = options.Value;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        foreach (var queue in _options.Queues)
            _queues.TryAdd(queue, NewState(queue));
    }

    QueueState NewState(string queue) => new(queue, new BoundedProbeCall(_probe, queue, _time));

    /// <inheritdoc />
    public QueueDepthReading? GetLatest(string queue) => _queues.TryGetValue(queue, out var state) ? state.Latest : null;

    /// <inheritdoc />
    public IDisposable Subscribe(string queue, Func<QueueDepthReading, CancellationToken, Task> handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        ArgumentNullException.ThrowIfNull(handler);
        var state = _queues.GetOrAdd(queue, NewState);
        return state.Add(handler);
    }

    /// <inheritdoc />
    public async Task<QueueDepthReading> PollAsync(string queue, CancellationToken cancellationToken = default)
    {
        var state = _queues.GetOrAdd(queue, NewState);
        var reading = await ReadAsync(state, cancellationToken).ConfigureAwait(false);
        await state.Publish(reading, cancellationToken).ConfigureAwait(false);
        return reading;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.PollInterval, _time);
        do
        {
            foreach (var state in _queues.Values)
            {
                if (stoppingToken.IsCancellationRequested)
                    return;
                try
                {
                    var reading = await ReadAsync(state, stoppingToken).ConfigureAwait(false);
                    await state.Publish(reading, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception exception)
                {
                    LogSubscriberFailed(state.Queue, exception);
                }
            }
        }
        while (await WaitForNextTick(timer, stoppingToken).ConfigureAwait(false));
    }

    static async Task<bool> WaitForNextTick(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    async Task<QueueDepthReading> ReadAsync(QueueState state, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var queueTag = new KeyValuePair<string, object?>(PatternsTags.Queue, state.Queue);
        QueueDepthReading reading;
        try
        {
            var sample = await state.Probe.ReadAsync(_options.ProbeTimeout, cancellationToken).ConfigureAwait(false);
            reading = new QueueDepthReading(state.Queue, sample, null, 0, _time.GetUtcNow());
            _metrics.ReadyGauge.Record(sample.Ready, queueTag);
            if (sample.Unacknowledged is { } unacked)
                _metrics.UnackedGauge.Record(unacked, queueTag);
            if (state.Latest is { Succeeded: false })
                LogProbeRecovered(state.Queue, _probe.Name);
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
        {
            var failure = exception as QueueDepthProbeException
                ?? new QueueDepthProbeException(state.Queue, _probe.Name,
                    exception is OperationCanceledException ? QueueDepthFailure.Timeout : QueueDepthFailure.Unreachable,
                    exception.Message, exception);
            var consecutive = (state.Latest?.ConsecutiveFailures ?? 0) + 1;
            reading = new QueueDepthReading(state.Queue, null, failure, consecutive, _time.GetUtcNow());
            _metrics.FailureCounter.Add(1, queueTag, new KeyValuePair<string, object?>(PatternsTags.Outcome, failure.Failure.ToString()));
            LogProbeFailed(state.Queue, _probe.Name, failure.Failure, consecutive, failure.Message);
        }
        _metrics.DurationHistogram.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, queueTag);
        state.Latest = reading;
        return reading;
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning,
        Message = "Queue depth of {Queue} could not be read by the {Probe} probe ({Failure}, {ConsecutiveFailures} in a row): {Reason}. Holding the current level.")]
    partial void LogProbeFailed(string queue, string probe, QueueDepthFailure failure, int consecutiveFailures, string reason);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Queue depth of {Queue} is readable again by the {Probe} probe.")]
    partial void LogProbeRecovered(string queue, string probe);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "A subscriber to the queue depth of {Queue} failed.")]
    partial void LogSubscriberFailed(string queue, Exception exception);

    sealed class QueueState(string queue, BoundedProbeCall probe)
    {
        /// <summary>The probe, bounded by the probe timeout, for this queue.</summary>
        public BoundedProbeCall Probe { get; } = probe;

        readonly object _lock = new();
        Func<QueueDepthReading, CancellationToken, Task>[] _handlers = [];

        public string Queue { get; } = queue;

        QueueDepthReading? _latest;

        public QueueDepthReading? Latest
        {
            get => Volatile.Read(ref _latest);
            set => Volatile.Write(ref _latest, value);
        }

        public IDisposable Add(Func<QueueDepthReading, CancellationToken, Task> handler)
        {
            lock (_lock)
                _handlers = [.. _handlers, handler];
            return new Subscription(this, handler);
        }

        void Remove(Func<QueueDepthReading, CancellationToken, Task> handler)
        {
            lock (_lock)
                _handlers = _handlers.Where(h => h != handler).ToArray();
        }

        public async Task Publish(QueueDepthReading reading, CancellationToken cancellationToken)
        {
            foreach (var handler in _handlers)
                await handler(reading, cancellationToken).ConfigureAwait(false);
        }

        sealed class Subscription(QueueState state, Func<QueueDepthReading, CancellationToken, Task> handler) : IDisposable
        {
            public void Dispose() => state.Remove(handler);
        }
    }
}
