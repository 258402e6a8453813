using System.Diagnostics;
using MassTransit.InMemoryTransport;
using MassTransit.Transports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// The thread delegate of one receive endpoint: the sequencer that admits deliveries in the
/// transport's delivery order, the allocation map that gives each key a lane (sticky while the key is
/// in flight, least-loaded or hashed for a new key) and the lanes, each running one message at a time
/// in admission order. A message whose lane is full waits on its key (its key's later messages behind
/// it) and the sequencer goes on admitting other keys; only a full total buffer pauses admission.
/// Messages are not moved to worker threads: each delivery's own pipe call waits for its turn on its
/// lane and then runs the rest of the consume pipe, so the transport acknowledges a message only after
/// its lane has processed it. A message that fails leaves its lane only once its receive pipe has
/// completed (it has been moved to the error queue), so a key's failed messages reach the error queue
/// in order. One short lock guards the bookkeeping; it is never held while a message is processed or awaited.
/// </summary>
sealed partial class ThreadDelegateDispatcher
{
    const int Issued = 0, Arrived = 1, Skipped = 2, Returned = 3;
    public const int ReturnedState = Returned;
    const int FinishNone = 0, FinishDeferred = 1, FinishReceiveDone = 2;

    readonly object _lock = new();
    readonly Lane[] _lanes;
    readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    readonly Dictionary<object, SequenceStream> _streams = [];
    readonly List<SequenceStream> _blocked = [];
    readonly ThreadDelegateOptions _options;
    readonly int _maxBuffered;
    readonly int _maxPerLane;
    readonly TimeProvider _time;
    readonly ThreadDelegateEndpointMetrics _metrics;
    static readonly PayloadFactory<DeliveryTicket> TicketFactory = static () => new DeliveryTicket();

    // Arrival order (in-memory gate, or best effort): one stream, positions issued here.
    readonly SequenceStream _arrival = new("arrival");
    volatile SequenceStream? _lastStream;
    volatile OrderMode _mode = OrderMode.Unresolved;
    IDeliveryOrder? _order;
    bool _returnsCanceled;
    int _totalWaiting; // waiting on a lane or parked on a key
    int _rotor;


    public ThreadDelegateDispatcher(string endpoint, ThreadDelegateOptions options, ThreadDelegateMetrics metrics, TimeProvider? time = null, ILogger? logger = null)
    {
        Endpoint = endpoint;
        _options = options;
        _maxBuffered = options.EffectiveMaxBuffered;
        _maxPerLane = options.MaxBufferedPerLane;
        _time = time ?? TimeProvider.System;
        Logger = logger ?? NullLogger.Instance;
        _lanes = new Lane[options.Workers];
        for (var i = 0; i < _lanes.Length; i++)
            _lanes[i] = new Lane(i);
        _metrics = metrics.For(endpoint);
        options.Control?.Attach(this);
    }

    public string Endpoint { get; }

    public ILogger Logger { get; set; }

    public ThreadDelegateOptions Options => _options;

    enum OrderMode
    {
        Unresolved,
        Contiguous,
        InMemoryGate,
        Arrival
    }

    /// <summary>True on the thread that is completing deliveries through the in-memory gate.</summary>
    public bool IsGateHolder => _mode == OrderMode.InMemoryGate && Monitor.IsEntered(_gate);

    public bool UsesGate => _mode == OrderMode.InMemoryGate;

    /// <summary>Gives the delivery its position in the transport's delivery order (called first in the receive pipe).</summary>
    public DeliveryTicket Issue(ReceiveContext context)
    {
        var ticket = context.GetOrAddPayload(TicketFactory);
        ticket.FromReceive = true;
        var mode = _mode;
        if (mode == OrderMode.Unresolved)
            mode = ResolveMode(context);

        switch (mode)
        {
            case OrderMode.Contiguous when _order!.TryGetPosition(context, out var id, out var position):
                ticket.Stream = StreamOf(id);
                ticket.Position = position;
                break;
            case OrderMode.InMemoryGate:
                lock (_gate)
                {
                    ticket.Stream = _arrival;
                    if (!_settled)
                        JoinStartupBatch(ticket, context);
                    else
                        ticket.Position = ++_arrival.Issued;
                }
                AfterGate();
                break;
            default:
                ticket.Stream = _arrival;
                ticket.Position = Interlocked.Increment(ref _arrival.Issued);
                break;
        }
        return ticket;
    }

    OrderMode ResolveMode(ReceiveContext context)
    {
        lock (_lock)
        {
            if (_mode != OrderMode.Unresolved)
                return _mode;
            OrderMode mode;
            if (Logger is NullLogger && LogContext.Current?.Logger is { } logger)
                Logger = logger;
            if (_options.DeliveryOrder is ArrivalDeliveryOrder)
                mode = OrderMode.Arrival; // chosen explicitly (best effort)
            else if (_options.DeliveryOrder is { } configured)
            {
                _order = configured;
                _returnsCanceled = configured.ReturnsCanceledDeliveries;
                mode = OrderMode.Contiguous;
            }
            else if (context is InMemoryReceiveContext)
                mode = OrderMode.InMemoryGate;
            else
            {
                // Start-up validation requires an order on any other transport; reaching this means the
                // filter runs on an endpoint it was not validated for. Say so at every delivery's start.
                mode = OrderMode.Arrival;
                LogArrivalOrder(Logger, Endpoint, context.InputAddress?.Scheme ?? "?");
            }
            _mode = mode;
            return mode;
        }
    }

    SequenceStream StreamOf(object id)
    {
        var last = _lastStream;
        if (last is not null && last.Id.Equals(id))
            return last;
        lock (_lock)
        {
            if (!_streams.TryGetValue(id, out var stream))
            {
                // A new channel: the older streams only finish what they have.
                foreach (var old in _streams.Values)
                    old.Retiring = true;
                RemoveIdleRetiringStreams();
                stream = new SequenceStream(id);
                _streams.Add(id, stream);
            }
            _lastStream = stream;
            return stream;
        }
    }

    void RemoveIdleRetiringStreams()
    {
        List<object>? idle = null;
        foreach (var (id, stream) in _streams)
            if (stream.Retiring && stream.Blocked is null && stream.Pending is not { Count: > 0 })
                (idle ??= []).Add(id);
        if (idle is not null)
            foreach (var id in idle)
            {
                _streams[id].GapTimer?.Dispose();
                _streams.Remove(id);
            }
    }

    /// <summary>The delivery's receive pipe has completed: if it never reached the lanes, its position is skipped.</summary>
    public void Settle(DeliveryTicket ticket)
    {
        if (Volatile.Read(ref ticket.State) != Issued)
            return;
        lock (_lock)
        {
            if (ticket.State != Issued)
                return;
            ticket.State = Skipped;
            if (ticket.Stream is { } stream && ticket.Position < stream.Cutoff)
                Sequence(stream, ticket);
        }
    }

    /// <summary>
    /// The delivery's receive pipe has completed (after the error queue move of a failed message): skips
    /// its position if it never reached the lanes, and lets a failed message leave its lane.
    /// </summary>
    public void ReceiveDone(DeliveryTicket ticket)
    {
        Settle(ticket);
        if (Interlocked.Exchange(ref ticket.FinishState, FinishReceiveDone) == FinishDeferred)
            Finish(ticket, ticket.Failed, ticket.FailedMessageId);
    }

    /// <summary>
    /// The message has left the consume pipe (<paramref name="failed"/>: its consumption faulted). One that
    /// goes to the error queue (failed, or not consumed because its key is held) keeps its lane until its
    /// receive pipe completes, that is until it has been moved there, so its key's next message cannot
    /// reach the error queue before it.
    /// </summary>
    public void Finished(DeliveryTicket ticket, bool failed, bool toErrorQueue, Guid? messageId)
    {
        if (toErrorQueue && ticket.FromReceive)
        {
            ticket.Failed = failed;
            ticket.FailedMessageId = messageId;
            if (Interlocked.CompareExchange(ref ticket.FinishState, FinishDeferred, FinishNone) == FinishNone)
                return;
        }
        Finish(ticket, failed, messageId);
    }

    /// <summary>
    /// The delivery was returned unprocessed (the endpoint stopped with an earlier delivery missing): its
    /// receive context is canceled so the transport leaves it unacknowledged, and it goes back to the
    /// queue, in its place, when the channel closes.
    /// </summary>
    public static OperationCanceledException Return(ConsumeContext context)
    {
        if (context.ReceiveContext is BaseReceiveContext receive)
            receive.Cancel();
        return new OperationCanceledException("Returned to the queue unprocessed: the endpoint stopped while an earlier delivery was missing, and this one must not run ahead of it.",
            context.ReceiveContext.CancellationToken);
    }

    /// <summary>The message reached the lane filter but is not ordered (no key selector for its type, or it faults before admission).</summary>
    public void SettleFromConsume(ConsumeContext context)
    {
        if (context.ReceiveContext.TryGetPayload<DeliveryTicket>(out var ticket))
            Settle(ticket);
    }
}
