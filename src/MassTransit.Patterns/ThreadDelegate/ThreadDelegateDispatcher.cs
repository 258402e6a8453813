using System.Collections.Concurrent;
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

    // The in-memory gate: see IssueUnderGate and CompleteThroughGate.
    readonly object _gate = new();
    readonly ConcurrentQueue<GateCompletion> _completions = new();
    int _drainingThread;

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

    // ---------------------------------------------------------------- receive side: positions

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

    // ---------------------------------------------------------------- consume side: admission and lanes

    /// <summary>
    /// The message with <paramref name="key"/> reached the lane filter. Returns its ticket: started when
    /// it may run now, otherwise with <see cref="DeliveryTicket.Turn"/> to wait on.
    /// </summary>
    public DeliveryTicket Arrive(ConsumeContext context, string key)
    {
        if (!context.ReceiveContext.TryGetPayload<DeliveryTicket>(out var ticket) || Volatile.Read(ref ticket.State) != Issued)
            ticket = new DeliveryTicket(); // no position (filter used without its receive part) or a second pass: admitted as it comes

        ticket.Key = key;
        ticket.ArrivedAt = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            var stream = ticket.Stream;
            if (stream is not null && ticket.Position >= stream.Cutoff)
            {
                // The endpoint is stopping and an earlier delivery is missing: this one goes back.
                ticket.State = Returned;
                _metrics.Returned(1);
                return ticket;
            }
            ticket.State = Arrived;
            if (stream is null)
                ForceAdmit(ticket);
            else if (ticket.Position < stream.Next)
            {
                // Its gap was skipped by the timeout: run it as it comes, and say so.
                _metrics.LateArrival();
                ForceAdmit(ticket);
            }
            else
                Sequence(stream, ticket);

            if (!ticket.Started)
                ticket.Turn = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        return ticket;
    }

    void ForceAdmit(DeliveryTicket ticket)
    {
        var lane = LaneFor(ticket.Key, out var keyState);
        if (!TryAdmit(ticket, lane, keyState, ignoreTotal: true))
            throw new InvalidOperationException("unreachable: admission ignoring the total bound always succeeds");
    }

    /// <summary>Under the lock: records an arrived or skipped position and admits whatever is now in order.</summary>
    void Sequence(SequenceStream stream, DeliveryTicket ticket)
    {
        if (ticket.Position == stream.Next && stream.Blocked is null && stream.Pending is not { Count: > 0 })
        {
            // The common case: the next position arrives in order.
            if (ticket.State == Skipped)
            {
                stream.Next++;
                return;
            }
            var lane = LaneFor(ticket.Key, out var keyState);
            if (TryAdmit(ticket, lane, keyState))
            {
                stream.Next++;
                return;
            }
        }
        if (ticket.Position < stream.Next)
            return; // a skipped position reported after its gap was skipped
        (stream.Pending ??= []).TryAdd(ticket.Position, ticket);
        Advance(stream);
    }

    /// <summary>Under the lock: admits the stream's positions in order until one is missing or the total buffer is full.</summary>
    void Advance(SequenceStream stream)
    {
        while (true)
        {
            DeliveryTicket? ticket = stream.Blocked;
            if (ticket is null && (stream.Pending is null || !stream.Pending.Remove(stream.Next, out ticket)))
                break;
            if (ticket.State == Skipped)
            {
                stream.Next++;
                continue;
            }
            var lane = LaneFor(ticket.Key, out var keyState);
            if (!TryAdmit(ticket, lane, keyState))
            {
                if (stream.Blocked is null)
                {
                    stream.Blocked = ticket;
                    _blocked.Add(stream);
                    _metrics.AdmissionPaused();
                }
                break;
            }
            if (stream.Blocked is not null)
            {
                stream.Blocked = null;
                _blocked.Remove(stream);
            }
            stream.Next++;
        }

        if (stream.Blocked is null && stream.Pending is { Count: > 0 })
            ArmGapTimer(stream);
        else if (stream.GapTimer is not null)
            stream.GapArmedAt = -1;
    }

    /// <summary>
    /// Under the lock: admits the message to its key's lane, where it starts at once if the lane is idle,
    /// waits on the lane if it has room, or else waits on its key (parked) until the lane makes room;
    /// a key with parked messages parks its later ones behind them. False when it would have to wait and
    /// the total buffer is full: then the stream pauses.
    /// </summary>
    bool TryAdmit(DeliveryTicket ticket, Lane lane, KeyState? keyState, bool ignoreTotal = false)
    {
        if (lane.Running == 0 && lane.Head is null && lane.Parked == 0)
        {
            Join(ticket, lane, keyState);
            Start(ticket, lane);
            return true;
        }
        if (!ignoreTotal && _totalWaiting >= _maxBuffered)
            return false;

        keyState = Join(ticket, lane, keyState);
        _totalWaiting++;
        _metrics.Buffered(+1);
        if (keyState.ParkedHead is null && lane.Waiting < _maxPerLane)
            Enqueue(ticket, lane);
        else
        {
            if (keyState.ParkedTail is null)
            {
                keyState.ParkedHead = ticket;
                lane.ParkedKeys.Enqueue(keyState);
            }
            else
                keyState.ParkedTail.NextInLane = ticket;
            keyState.ParkedTail = ticket;
            lane.Parked++;
            _metrics.Parked();
        }
        return true;
    }

    /// <summary>Under the lock: the ticket joins its key (the key is in flight on <paramref name="lane"/> while it has messages admitted).</summary>
    KeyState Join(DeliveryTicket ticket, Lane lane, KeyState? keyState)
    {
        if (keyState is null)
        {
            keyState = new KeyState(ticket.Key, lane);
            _keys.Add(ticket.Key, keyState);
            _metrics.KeysInFlight(+1);
        }
        keyState.InFlight++;
        ticket.KeyState = keyState;
        ticket.Lane = lane;
        return keyState;
    }

    static void Enqueue(DeliveryTicket ticket, Lane lane)
    {
        if (lane.Tail is null)
            lane.Head = ticket;
        else
            lane.Tail.NextInLane = ticket;
        lane.Tail = ticket;
        lane.Waiting++;
    }

    /// <summary>Under the lock: moves parked messages onto the lane while it has room, one key at a time in turn.</summary>
    void Refill(Lane lane)
    {
        while (lane.ParkedKeys.Count > 0 && lane.Waiting < _maxPerLane)
        {
            var keyState = lane.ParkedKeys.Dequeue();
            var ticket = keyState.ParkedHead!;
            keyState.ParkedHead = ticket.NextInLane;
            ticket.NextInLane = null;
            if (keyState.ParkedHead is null)
                keyState.ParkedTail = null;
            else
                lane.ParkedKeys.Enqueue(keyState);
            lane.Parked--;
            Enqueue(ticket, lane);
        }
    }

    /// <summary>Under the lock: the key's lane (sticky while the key is in flight), or the lane a new key would get.</summary>
    Lane LaneFor(string key, out KeyState? keyState)
    {
        if (_keys.TryGetValue(key, out keyState))
            return keyState.Lane;
        if (_options.Allocation == LaneAllocation.FixedHash)
            return _lanes[(int)(ThreadDelegateHash.Of(key) % (uint)_lanes.Length)];

        // Least loaded: fewest messages running, waiting or parked; ties go round the lanes.
        var best = _lanes[_rotor];
        var bestLoad = best.Load;
        for (var i = 1; i < _lanes.Length && bestLoad > 0; i++)
        {
            var lane = _lanes[(_rotor + i) % _lanes.Length];
            if (lane.Load < bestLoad)
            {
                best = lane;
                bestLoad = lane.Load;
            }
        }
        _rotor = (best.Index + 1) % _lanes.Length;
        return best;
    }

    void Start(DeliveryTicket ticket, Lane lane)
    {
        lane.Running = 1;
        ticket.Started = true;
        _metrics.LanesBusy(+1);
        ticket.Turn?.TrySetResult(true); // runs asynchronously: never inside this lock
    }

    /// <summary>The message's turn has come: records its wait and tells whether its key is held.</summary>
    public HeldState? Starting(DeliveryTicket ticket)
    {
        _metrics.Waited(Stopwatch.GetElapsedTime(ticket.ArrivedAt).TotalMilliseconds);
        var keyState = ticket.KeyState!;
        if (!Volatile.Read(ref keyState.Held))
            return null;
        lock (_lock)
        {
            if (!keyState.Held)
                return null;
            if (_options.HoldTimeout is { } timeout && _time.GetUtcNow() - keyState.HeldSince >= timeout)
            {
                Unhold(keyState);
                return null;
            }
            return new HeldState(keyState.Key, keyState.HeldBy);
        }
    }

    /// <summary>The message has left its lane (processed, failed, or held): the lane takes its next message.</summary>
    public void Finish(DeliveryTicket ticket, bool failed, Guid? messageId)
    {
        lock (_lock)
        {
            var lane = ticket.Lane!;
            var keyState = ticket.KeyState!;
            lane.Running = 0;
            _metrics.LanesBusy(-1);
            keyState.InFlight--;
            if (failed && _options.FailedKey == FailedKeyBehavior.Hold && !keyState.Held)
            {
                keyState.HeldBy = messageId;
                keyState.HeldSince = _time.GetUtcNow();
                Volatile.Write(ref keyState.Held, true);
                _metrics.KeysHeld(+1);
                LogKeyHeld(Logger, Endpoint, keyState.Key, messageId);
            }
            if (keyState.InFlight == 0 && !keyState.Held)
            {
                _keys.Remove(keyState.Key);
                _metrics.KeysInFlight(-1);
            }
            Refill(lane);
            if (lane.Head is { } next)
            {
                lane.Head = next.NextInLane;
                if (lane.Head is null)
                    lane.Tail = null;
                next.NextInLane = null;
                lane.Waiting--;
                _totalWaiting--;
                _metrics.Buffered(-1);
                Start(next, lane);
                Refill(lane);
            }
            for (var i = _blocked.Count - 1; i >= 0 && i < _blocked.Count; i--)
                Advance(_blocked[i]);
        }
    }

    void Unhold(KeyState keyState)
    {
        Volatile.Write(ref keyState.Held, false);
        keyState.HeldBy = null;
        _metrics.KeysHeld(-1);
        if (keyState.InFlight == 0)
        {
            _keys.Remove(keyState.Key);
            _metrics.KeysInFlight(-1);
        }
    }

    public bool Release(string key)
    {
        lock (_lock)
        {
            if (!_keys.TryGetValue(key, out var keyState) || !keyState.Held)
                return false;
            Unhold(keyState);
        }
        LogKeyReleased(Logger, Endpoint, key);
        return true;
    }

    public IReadOnlyList<HeldKey> HeldKeys()
    {
        lock (_lock)
            return _keys.Values.Where(k => k.Held).Select(k => new HeldKey(Endpoint, k.Key, k.HeldBy, k.HeldSince)).ToArray();
    }

    /// <summary>A snapshot for tests and diagnostics.</summary>
    public ThreadDelegateSnapshot Snapshot()
    {
        lock (_lock)
            return new ThreadDelegateSnapshot(
                _lanes.Count(l => l.Running > 0),
                _keys.Count,
                _totalWaiting,
                _lanes.Select(l => l.Waiting).ToArray(),
                _keys.Values.Count(k => k.Held),
                _lanes.Sum(l => l.Parked));
    }

    // ---------------------------------------------------------------- gaps

    TimeSpan GapTimeout(SequenceStream stream) => stream.Stopping && _options.SequenceGapTimeout > TimeSpan.FromMilliseconds(100)
        ? TimeSpan.FromMilliseconds(100)
        : _options.SequenceGapTimeout;

    void ArmGapTimer(SequenceStream stream)
    {
        if (stream.GapArmedAt == stream.Next)
            return;
        stream.GapArmedAt = stream.Next;
        stream.GapTimer ??= _time.CreateTimer(static s => ((GapCallback)s!).Fire(), new GapCallback(this, stream), Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        stream.GapTimer.Change(GapTimeout(stream), Timeout.InfiniteTimeSpan);
    }

    void GapExpired(SequenceStream stream)
    {
        lock (_lock)
        {
            if (stream.GapArmedAt != stream.Next || stream.Blocked is not null || stream.Pending is not { Count: > 0 })
                return; // progress was made, or nothing waits
            stream.GapArmedAt = -1;
            if (stream.Stopping && stream != _arrival && _returnsCanceled)
            {
                // The transport dropped the missing delivery while stopping; it goes back to the queue. Every
                // later delivery goes back too, unprocessed, so none of its key's successors runs before it.
                stream.Cutoff = stream.Next;
                var returned = 0;
                foreach (var ticket in stream.Pending.Values)
                    if (ticket.State == Arrived)
                    {
                        ticket.State = Returned;
                        ticket.Turn?.TrySetResult(false);
                        returned++;
                    }
                stream.Pending.Clear();
                _metrics.Returned(returned);
                LogReturnedAtStop(Logger, Endpoint, stream.Next, returned);
                return;
            }
            var first = stream.Pending.Keys.Min();
            var skipped = first - stream.Next;
            _metrics.GapSkipped(skipped);
            LogGapSkipped(Logger, Endpoint, stream.Next, first - 1, GapTimeout(stream));
            stream.Next = first;
            Advance(stream);
        }
    }

    /// <summary>The endpoint is stopping: deliveries the transport dropped will not come, so gaps wait only briefly.</summary>
    public void Stopping()
    {
        lock (_gate)
            _settled = false; // a restarted in-memory endpoint has new readers: settle again
        AfterGate();
        lock (_lock)
            foreach (var stream in _streams.Values.Append(_arrival))
            {
                stream.Stopping = true;
                if (stream.GapTimer is not null && stream.GapArmedAt >= 0)
                    stream.GapTimer.Change(GapTimeout(stream), Timeout.InfiniteTimeSpan);
            }
    }

    /// <summary>The endpoint is ready again (a restart): the arrival stream waits for gaps as long as configured again.</summary>
    public void Ready()
    {
        lock (_lock)
            _arrival.Stopping = false;
    }

    sealed class GapCallback(ThreadDelegateDispatcher dispatcher, SequenceStream stream)
    {
        public void Fire() => dispatcher.GapExpired(stream);
    }

    // ---------------------------------------------------------------- the in-memory gate
    //
    // MassTransit's in-memory transport hands deliveries, in queue order, to N readers that run
    // concurrently: between a reader taking a message and that message reaching any filter, another
    // reader can overtake it. The gate closes that window. Every receive pipe call's completion is
    // handed to the reader through the gate, one at a time, with the reader's continuation run inline:
    // the reader finishes the message, takes the next one and runs it up to this filter's Issue (which
    // takes the gate again, re-entrantly) before the gate lets the next reader go. A reader woken by
    // the transport on its own thread waits at Issue while a completion is in progress. So positions
    // are issued in the order readers take messages from the transport's queue. Work on the message
    // itself never runs under the gate (the lane filter yields first).

    public Task CompleteThroughGate(Task inner, DeliveryTicket ticket)
    {
        var completion = new GateCompletion(this, inner, ticket);
        inner.ContinueWith(static (_, state) => ((GateCompletion)state!).Enqueue(), completion,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return completion.Task;
    }

    void DrainGate()
    {
        var thread = Environment.CurrentManagedThreadId;
        while (!_completions.IsEmpty)
        {
            if (Volatile.Read(ref _drainingThread) == thread || !Monitor.TryEnter(_gate))
                return; // this thread is already draining further up its stack, or another thread holds the gate and will look again
            try
            {
                _drainingThread = thread;
                while (_completions.TryDequeue(out var completion))
                    completion.Complete();
            }
            finally
            {
                _drainingThread = 0;
                Monitor.Exit(_gate);
            }
        }
    }

    /// <summary>
    /// Called after every section that held the gate other than <see cref="DrainGate"/>: a completion
    /// handed to the gate while this thread held it (its own thread's TryEnter failed) is drained now,
    /// or it would wait for the next delivery, and the last one of a run would never complete.
    /// </summary>
    void AfterGate()
    {
        if (!_completions.IsEmpty)
            DrainGate();
    }

    // The readers of an in-memory endpoint (one per concurrent delivery: the endpoint's concurrent
    // message limit) are started as thread-pool work items when the transport starts, and each one's
    // first take from the transport happens outside the gate. So the deliveries of a start are held in
    // one batch and given positions in send order (the order of their NewId message ids) when the batch
    // closes: at once when every reader has taken its first message (then every later take goes through
    // the gate: exact), else when the start-up window ends (a reader that has taken nothing by then was
    // idle, or has not been started yet: that cannot be known, and the close says so in the log).
    // From then on the gate keeps the order. Nothing here reads thread-pool state.

    internal static readonly TimeSpan StartupWindow = TimeSpan.FromMilliseconds(500);
    bool _settled;
    List<DeliveryTicket>? _startupBatch;
    TaskCompletionSource? _startupClosed;
    ITimer? _startupTimer;

    /// <summary>The in-memory endpoint's concurrent deliveries (its transport's readers); 0 when unknown.</summary>
    public int Readers { get; set; }

    /// <summary>How the last start-up batch closed: (deliveries in it, whether every reader had taken one).</summary>
    public (int Deliveries, bool Complete)? LastStartup { get; private set; }

    /// <summary>Where a parked delivery waits until the start-up batch has given it its position.</summary>
    public Task? StartupSettling(DeliveryTicket ticket) => ticket.StartupClosed is { IsCompleted: false } closed ? closed : null;

    /// <summary>Under the gate: the delivery joins the start-up batch, which closes when it holds one delivery per reader.</summary>
    void JoinStartupBatch(DeliveryTicket ticket, ReceiveContext context)
    {
        ticket.Position = -1;
        ticket.SendOrder = context.GetMessageId() is { } messageId ? NewId.FromGuid(messageId) : default;
        (_startupBatch ??= []).Add(ticket);
        if (_startupClosed is null)
        {
            _startupClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _startupTimer = _time.CreateTimer(static s => ((ThreadDelegateDispatcher)s!).StartupWindowEnded(), this, StartupWindow, Timeout.InfiniteTimeSpan);
        }
        ticket.StartupClosed = _startupClosed.Task;
        if (Readers > 0 && _startupBatch.Count >= Readers)
            CloseStartupBatch(complete: true);
    }

    void StartupWindowEnded()
    {
        lock (_gate)
            if (_startupBatch is not null)
                CloseStartupBatch(complete: false);
        AfterGate();
    }

    /// <summary>Under the gate: gives the batch its positions in send order and lets its deliveries go on.</summary>
    void CloseStartupBatch(bool complete)
    {
        var batch = _startupBatch ?? [];
        // Send order: MassTransit's message ids are NewIds, increasing in the order a process creates them.
        foreach (var ticket in batch.OrderBy(t => t.SendOrder))
            ticket.Position = ++_arrival.Issued;
        _startupBatch = null;
        _settled = true;
        _startupTimer?.Dispose();
        _startupTimer = null;
        var closed = _startupClosed;
        _startupClosed = null;
        LastStartup = (batch.Count, complete);
        if (!complete)
            LogStartupWindowClosed(Logger, Endpoint, batch.Count, Readers, StartupWindow);
        closed?.TrySetResult(); // continuations run asynchronously: never under the gate
    }

    sealed class GateCompletion(ThreadDelegateDispatcher dispatcher, Task inner, DeliveryTicket ticket) : TaskCompletionSource
    {
        public void Enqueue()
        {
            dispatcher.ReceiveDone(ticket);
            dispatcher._completions.Enqueue(this);
            dispatcher.DrainGate();
        }

        public void Complete()
        {
            if (inner.IsFaulted)
                TrySetException(inner.Exception!.InnerExceptions);
            else if (inner.IsCanceled)
                TrySetCanceled();
            else
                TrySetResult();
        }
    }

    // ---------------------------------------------------------------- state

    internal sealed class Lane(int index)
    {
        public readonly int Index = index;
        public readonly Queue<KeyState> ParkedKeys = new();
        public int Running;
        public int Waiting;
        public int Parked;
        public DeliveryTicket? Head;
        public DeliveryTicket? Tail;

        public int Load => Running + Waiting + Parked;
    }

    internal sealed class KeyState(string key, Lane lane)
    {
        public readonly string Key = key;
        public readonly Lane Lane = lane;
        public int InFlight;
        public DeliveryTicket? ParkedHead;
        public DeliveryTicket? ParkedTail;
        public bool Held;
        public Guid? HeldBy;
        public DateTimeOffset HeldSince;
    }

    internal sealed class SequenceStream(object id)
    {
        public readonly object Id = id;
        public long Next = 1;
        public long Issued;
        public Dictionary<long, DeliveryTicket>? Pending;
        public DeliveryTicket? Blocked;
        public ITimer? GapTimer;
        public long GapArmedAt = -1;
        public bool Retiring;
        public bool Stopping;
        public long Cutoff = long.MaxValue;
    }

    /// <summary>One delivery's place: its position (set in the receive pipe) and its lane (set at admission).</summary>
    internal sealed class DeliveryTicket
    {
        public SequenceStream? Stream;
        public long Position;
        public int State;
        public string Key = "";
        public KeyState? KeyState;
        public Lane? Lane;
        public DeliveryTicket? NextInLane;
        public TaskCompletionSource<bool>? Turn;
        public long ArrivedAt;
        public bool Started;
        public bool FromReceive;
        public int FinishState;
        public bool Failed;
        public Guid? FailedMessageId;
        public NewId SendOrder;
        public Task? StartupClosed;
    }

    internal readonly record struct HeldState(string Key, Guid? FailedMessageId);

    [LoggerMessage(EventId = 9001, Level = LogLevel.Warning,
        Message = "Thread delegate on {Endpoint}: no delivery order was chosen for this {Scheme} endpoint, so messages are ordered as they reach the filter (best effort). Set ThreadDelegateOptions.DeliveryOrder (o.UseRabbitMqDeliveryOrder() on RabbitMQ).")]
    static partial void LogArrivalOrder(ILogger logger, string endpoint, string scheme);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning,
        Message = "Thread delegate on {Endpoint}: deliveries {From}..{To} never reached the filter within {Timeout}; skipped so later deliveries go on.")]
    static partial void LogGapSkipped(ILogger logger, string endpoint, long from, long to, TimeSpan timeout);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Warning,
        Message = "Thread delegate on {Endpoint}: key {Key} is held after message {MessageId} failed; its later messages go to the error queue in order until it is released.")]
    static partial void LogKeyHeld(ILogger logger, string endpoint, string key, Guid? messageId);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Information, Message = "Thread delegate on {Endpoint}: key {Key} released.")]
    static partial void LogKeyReleased(ILogger logger, string endpoint, string key);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Information,
        Message = "Thread delegate on {Endpoint}: the endpoint stopped with delivery {Position} missing (the transport returns it to the queue); {Returned} later deliveries go back unprocessed so none runs ahead of it.")]
    static partial void LogReturnedAtStop(ILogger logger, string endpoint, long position, int returned);

    [LoggerMessage(EventId = 9006, Level = LogLevel.Debug,
        Message = "Thread delegate on {Endpoint}: the in-memory start-up batch closed at the end of its {Window} window with {Deliveries} deliveries from {Readers} readers; the readers that had taken none were idle or not yet started (which cannot be known): a reader started later takes its first message outside the order gate.")]
    static partial void LogStartupWindowClosed(ILogger logger, string endpoint, int deliveries, int readers, TimeSpan window);
}

/// <summary>The state of one endpoint's thread delegate at a moment.</summary>
/// <param name="LanesBusy">Lanes running a message.</param>
/// <param name="KeysInFlight">Keys with messages admitted and not finished (or held).</param>
/// <param name="Buffered">Messages admitted and waiting for their lane.</param>
/// <param name="WaitingPerLane">Messages waiting on each lane.</param>
/// <param name="KeysHeld">Keys held after a failure.</param>
/// <param name="Parked">Of <paramref name="Buffered"/>, messages waiting on their key because its lane was full.</param>
public sealed record ThreadDelegateSnapshot(int LanesBusy, int KeysInFlight, int Buffered, IReadOnlyList<int> WaitingPerLane, int KeysHeld, int Parked = 0);
