using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// Applies the flow state of the queues a message feeds before it is sent: a send is bound to its
/// destination queue, a publish to every watched queue that consumes its type. It delays, limits,
/// waits or rejects, and never drops: a refused message raises <see cref="BackPressureException"/>
/// to the caller, who still has it. A message marked urgent (the ambulance mark) passes untouched while
/// <see cref="ProducerControlFlowOptions.UrgentBypass"/> is on: it is bound for the queue's lane.
/// </summary>
sealed partial class ProducerControlFlowGate
{
    readonly FlowControlStateStore _store;
    readonly ProducerControlFlowOptions _options;
    readonly ILogger _logger;
    readonly ControlFlowMetrics _metrics;
    readonly TimeProvider _time;
    readonly ConcurrentDictionary<string, RateGate> _rates = new(StringComparer.OrdinalIgnoreCase);
    readonly ConcurrentDictionary<(Type, string), byte> _publishesReported = new();

    /// <summary>Creates the gate.</summary>
    public ProducerControlFlowGate(FlowControlStateStore store, ProducerControlFlowOptions options, ILogger logger, ControlFlowMetrics metrics,
        TimeProvider? time = null)
    {
        _store = store;
        _options = options;
        _logger = logger;
        _metrics = metrics;
        _time = time ?? TimeProvider.System;
        _store.LeaseExpired += statement => LogLeaseExpired(statement.Queue, statement.State, statement.LeaseExpiresAt);
    }

    /// <summary>Holds the caller as the state of <paramref name="queue"/> requires; throws <see cref="BackPressureException"/> to refuse.</summary>
    public ValueTask PassAsync(string queue, CancellationToken cancellationToken) => PassAsync(queue, urgent: false, null, cancellationToken);

    /// <summary>
    /// Holds the caller as the state of <paramref name="queue"/> requires, unless the message is <paramref name="urgent"/>
    /// and <see cref="ProducerControlFlowOptions.UrgentBypass"/> is on; throws <see cref="BackPressureException"/> to refuse.
    /// </summary>
    public ValueTask PassAsync(string queue, bool urgent, CancellationToken cancellationToken) => PassAsync(queue, urgent, null, cancellationToken);

    /// <summary>
    /// As <see cref="PassAsync(string, bool, CancellationToken)"/>, for a publish of <paramref name="publishedType"/>
    /// (null for a send): the first time a publish of that type is held for <paramref name="queue"/>, warns that every
    /// subscriber of the type is held with it (a publish is one message to all of them).
    /// </summary>
    internal async ValueTask PassAsync(string queue, bool urgent, Type? publishedType, CancellationToken cancellationToken)
    {
        var status = _store.Get(queue);
        if (status.State == FlowState.Normal || Bypasses(status, urgent))
            return;
        if (publishedType is not null && _publishesReported.TryAdd((publishedType, queue), 0))
            LogPublishHeld(queue, status.State, publishedType.FullName ?? publishedType.Name);

        var started = Stopwatch.GetTimestamp();
        var tag = new KeyValuePair<string, object?>(PatternsTags.Queue, queue);
        using var holding = _store.Hold(queue);
        try
        {
            if (status.State == FlowState.Stop)
            {
                if (_options.WhenStopped == StopAction.Reject)
                    throw Reject(status, "the queue is stopped.");
                status = await WaitWhile(queue, s => s == FlowState.Stop, started, cancellationToken).ConfigureAwait(false);
                if (status.State == FlowState.Normal)
                    return;
            }

            switch (_options.WhenSlow)
            {
                case SlowAction.Reject:
                    throw Reject(status, "the queue is slowed and this producer rejects.");
                case SlowAction.Delay:
                    await Task.Delay(_options.SlowDelay, _time, cancellationToken).ConfigureAwait(false);
                    break;
                case SlowAction.RateLimit:
                    await _rates.GetOrAdd(queue, _ => new RateGate(_options.SlowRatePerSecond, _time)).WaitAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case SlowAction.Wait:
                    await WaitWhile(queue, s => s != FlowState.Normal, started, cancellationToken).ConfigureAwait(false);
                    break;
            }
            _metrics.Throttled.Add(1, tag);
            _store.CountThrottled(queue);
        }
        finally
        {
            _metrics.ThrottledTime.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, tag);
        }
    }

    /// <summary>
    /// Decides what can be decided in the send pipe, where a mark set later by the caller's send callback is not yet
    /// visible: a queue whose state refuses at once throws here (unless the message is already marked urgent); a queue
    /// whose state holds is returned, to be held just before the message leaves (<see cref="HoldAsync"/>), when the
    /// callback has run.
    /// </summary>
    internal string[] Classify(IEnumerable<string> queues, Headers headers, Type? publishedType = null)
    {
        List<string>? held = null;
        foreach (var queue in queues)
        {
            var status = _store.Get(queue);
            if (status.State == FlowState.Normal || Bypasses(status, UrgentMark.IsUrgent(headers)))
                continue;
            if (publishedType is not null && _publishesReported.TryAdd((publishedType, queue), 0))
                LogPublishHeld(queue, status.State, publishedType.FullName ?? publishedType.Name);
            if (status.State == FlowState.Stop && _options.WhenStopped == StopAction.Reject)
                throw Reject(status, "the queue is stopped.");
            if (status.State == FlowState.Slow && _options.WhenSlow == SlowAction.Reject)
                throw Reject(status, "the queue is slowed and this producer rejects.");
            (held ??= []).Add(queue);
        }
        return held?.ToArray() ?? [];
    }

    /// <summary>Holds a message just before it leaves by the states of <paramref name="queues"/>, reading its final urgent mark.</summary>
    internal async Task HoldAsync(string[] queues, Headers headers, Type? publishedType, CancellationToken cancellationToken)
    {
        var urgent = UrgentMark.IsUrgent(headers);
        foreach (var queue in queues)
            await PassAsync(queue, urgent, publishedType, cancellationToken).ConfigureAwait(false);
    }

    bool Bypasses(FlowStatus status, bool urgent)
    {
        if (!urgent || !_options.UrgentBypass)
            return false;
        _store.CountUrgentBypassed(status.Queue);
        _metrics.UrgentBypassed.Add(1, new KeyValuePair<string, object?>(PatternsTags.Queue, status.Queue),
            new KeyValuePair<string, object?>("masstransit.patterns.flow_state", status.State.ToString()));
        return true;
    }

    async Task<FlowStatus> WaitWhile(string queue, Func<FlowState, bool> holding, long started, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = _store.NextStatement(queue);
            var status = _store.Get(queue);
            if (!holding(status.State))
                return status;

            var left = _options.MaxWait - Stopwatch.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
                throw Reject(status, $"it did not drain within MaxWait ({_options.MaxWait}).");

            // Wake on a new statement, on the lease's end (which lifts the state), or at the deadline.
            var untilLease = status.Statement is { } s ? s.LeaseExpiresAt - _time.GetUtcNow() : left;
            var wait = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(1).Ticks, Math.Min(left.Ticks, untilLease.Ticks)));
            await Task.WhenAny(changed, Task.Delay(wait, _time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    BackPressureException Reject(FlowStatus status, string reason)
    {
        _metrics.Rejected.Add(1, new KeyValuePair<string, object?>(PatternsTags.Queue, status.Queue));
        _store.CountRejected(status.Queue);
        return new BackPressureException(status.Queue, status.State, status.Statement?.Depth ?? 0, status.Mark, reason);
    }

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning,
        Message = "Flow control of {Queue} ({State}) holds a publish of {MessageType}: a publish is one message to every subscriber of the type, " +
            "so every subscriber of {MessageType} is slowed with {Queue}, not only it. To throttle {Queue} alone, send to it instead of " +
            "publishing (a send is held by its destination's state only). Reported once per type and queue.")]
    partial void LogPublishHeld(string queue, FlowState state, string messageType);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning,
        Message = "Flow control of {Queue} ({State}) expired at {ExpiredAt} with no renewal from its monitor: producers resume normal sending.")]
    partial void LogLeaseExpired(string queue, FlowState state, DateTimeOffset expiredAt);

    /// <summary>Spaces sends to one queue evenly at the configured rate.</summary>
    sealed class RateGate(double perSecond, TimeProvider time)
    {
        readonly long _intervalTicks = (long)(TimeSpan.TicksPerSecond / perSecond);
        long _nextTicks;

        public Task WaitAsync(CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow().UtcTicks;
            long slot;
            while (true)
            {
                var next = Interlocked.Read(ref _nextTicks);
                slot = Math.Max(now, next);
                if (Interlocked.CompareExchange(ref _nextTicks, slot + _intervalTicks, next) == next)
                    break;
            }
            var wait = TimeSpan.FromTicks(slot - now);
            return wait <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(wait, time, cancellationToken);
        }
    }
}
