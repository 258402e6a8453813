using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
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
public sealed partial class ProducerControlFlowGate
{
    static readonly Counter<long> Throttled = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "control_flow.throttled", "{message}", "Sends delayed, rate-limited or held by flow control.");
    static readonly Counter<long> Rejected = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "control_flow.rejected", "{message}", "Sends refused with BackPressureException.");
    static readonly Histogram<double> ThrottledTime = PatternsDiagnostics.Meter.CreateHistogram<double>(
        PatternsDiagnostics.InstrumentPrefix + "control_flow.throttled_time", "ms", "Time a send spent held by flow control.");
    static readonly Counter<long> UrgentBypassed = PatternsDiagnostics.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "control_flow.urgent_bypassed", "{message}",
        "Urgent (ambulance-marked) sends and publishes let past a slowed or stopped queue.");

    readonly FlowControlStateStore _store;
    readonly ProducerControlFlowOptions _options;
    readonly ILogger _logger;
    readonly TimeProvider _time;
    readonly ConcurrentDictionary<string, RateGate> _rates = new(StringComparer.OrdinalIgnoreCase);
    readonly ConcurrentDictionary<(Type, string), byte> _publishesReported = new();

    /// <summary>Creates the gate.</summary>
    public ProducerControlFlowGate(FlowControlStateStore store, ProducerControlFlowOptions options, ILogger logger, TimeProvider? time = null)
    {
        _store = store;
        _options = options;
        _logger = logger;
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
            Throttled.Add(1, tag);
        }
        finally
        {
            ThrottledTime.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, tag);
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
            if (status.State == FlowState.Normal || Bypasses(status, AmbulanceContextExtensions.IsUrgent(headers)))
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
        var urgent = AmbulanceContextExtensions.IsUrgent(headers);
        foreach (var queue in queues)
            await PassAsync(queue, urgent, publishedType, cancellationToken).ConfigureAwait(false);
    }

    bool Bypasses(FlowStatus status, bool urgent)
    {
        if (!urgent || !_options.UrgentBypass)
            return false;
        UrgentBypassed.Add(1, new KeyValuePair<string, object?>(PatternsTags.Queue, status.Queue),
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
        Rejected.Add(1, new KeyValuePair<string, object?>(PatternsTags.Queue, status.Queue));
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

/// <summary>
/// The queues whose state holds a message, found by the filter in the send pipe and held by
/// <see cref="ProducerControlFlowHoldObserver"/> just before the message leaves, once.
/// </summary>
sealed class ControlFlowHold(string[] queues, Type? publishedType = null)
{
    string[]? _queues = queues;

    /// <summary>The published message type, for the gate's fan-out warning; null for a send.</summary>
    public Type? PublishedType => publishedType;

    public string[]? Take() => Interlocked.Exchange(ref _queues, null);
}

/// <summary>
/// Classifies a sent message by the flow state of its destination queue. It runs the rest of the send pipe first, so
/// the ambulance classifier has marked the message whichever pattern was configured first; a refusal is thrown here, a
/// hold is left to <see cref="ProducerControlFlowHoldObserver"/>, which runs after the caller's send callback (where
/// <c>SetUrgent()</c> is usually called) and before the transport sends. (MassTransit runs the send pipe for publishes
/// too; their destination is the message type's exchange, which no monitor watches, so they pass here and are
/// classified by <see cref="ProducerControlFlowPublishFilter{T}"/>.)
/// </summary>
sealed class ProducerControlFlowSendFilter<T>(ProducerControlFlowGate gate) : IFilter<SendContext<T>>
    where T : class
{
    public async Task Send(SendContext<T> context, IPipe<SendContext<T>> next)
    {
        await next.Send(context).ConfigureAwait(false);
        if (Addressing.AddressNames.EntityName(context.DestinationAddress) is { } queue && gate.Classify([queue], context.Headers) is { Length: > 0 } held)
            context.GetOrAddPayload(() => new ControlFlowHold(held));
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("producerControlFlow");
}

/// <summary>
/// Classifies a published message by the flow state of every watched queue that consumes its type (see the send
/// filter). The publish is one message to every subscriber, so it is held by them all (the gate warns once per type).
/// </summary>
sealed class ProducerControlFlowPublishFilter<T>(ProducerControlFlowGate gate, FlowControlStateStore store) : IFilter<PublishContext<T>>
    where T : class
{
    static readonly string MessageTypeUrn = MessageUrn.ForTypeString<T>();

    public async Task Send(PublishContext<T> context, IPipe<PublishContext<T>> next)
    {
        await next.Send(context).ConfigureAwait(false);
        if (gate.Classify(store.QueuesConsuming(MessageTypeUrn), context.Headers, typeof(T)) is { Length: > 0 } held)
            context.GetOrAddPayload(() => new ControlFlowHold(held, typeof(T)));
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("producerControlFlow");
}

/// <summary>
/// Holds a message just before the transport sends it, by the queues its filter found held, reading its final urgent
/// mark (the caller's callback, the ambulance classifier). Connected as a send and a publish observer; holds once.
/// </summary>
sealed class ProducerControlFlowHoldObserver(ProducerControlFlowGate gate) : ISendObserver, IPublishObserver
{
    Task Hold(SendContext context) =>
        context.TryGetPayload<ControlFlowHold>(out var hold) && hold.Take() is { } queues
            ? gate.HoldAsync(queues, context.Headers, hold.PublishedType, context.CancellationToken)
            : Task.CompletedTask;

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Hold(context);

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Hold(context);

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}
