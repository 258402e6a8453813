namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The concurrency budget a queue shares with its lane: the queue's own slots (N) plus the lane's
/// reserved slots (L). In ambulance mode normal work may hold any free slot, up to N + L, while no
/// urgent message waits; urgent work holds at most L slots, and a freed slot goes to a waiting
/// urgent message first (or by <see cref="AmbulanceLaneOptions.UrgentWeight"/>). So an urgent
/// message waits at most until one message in flight finishes, and normal work always keeps at
/// least N slots. In carpool mode the two budgets are separate and nobody waits for the other.
/// </summary>
sealed class LaneGate
{
    readonly object _lock = new();
    readonly LinkedList<Waiter> _urgentWaiters = new();
    readonly LinkedList<Waiter> _normalWaiters = new();
    readonly int _laneSlots;
    readonly AmbulanceMode _mode;
    readonly int? _urgentWeight;
    int _queueSlots;
    int _urgentInUse;
    int _normalInUse;
    int _urgentStreak;

    public LaneGate(string queue, string lane, int laneSlots, AmbulanceMode mode, int? urgentWeight, int queueSlots = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(laneSlots, 1);
        Queue = queue;
        Lane = lane;
        _laneSlots = laneSlots;
        _mode = mode;
        _urgentWeight = urgentWeight;
        QueueSlots = queueSlots;
    }

    public string Queue { get; }

    /// <summary>The latest urgent waits (send to slot), for the lane's percentiles.</summary>
    public UrgentWaitReservoir UrgentWaits { get; } = new();

    public string Lane { get; }

    public AmbulanceMode Mode => _mode;

    public int LaneSlots => _laneSlots;

    /// <summary>The queue's own slots (its endpoint's concurrency before the lane was added).</summary>
    public int QueueSlots
    {
        get => Volatile.Read(ref _queueSlots);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            lock (_lock)
                _queueSlots = value;
        }
    }

    /// <summary>The most messages the queue's endpoint may hold at once: N + L in ambulance mode, N in carpool mode.</summary>
    public int QueueEndpointLimit => _mode == AmbulanceMode.Ambulance ? QueueSlots + _laneSlots : QueueSlots;

    public GateState State
    {
        get
        {
            lock (_lock)
                return new GateState(_urgentInUse, _normalInUse, _urgentWaiters.Count, _normalWaiters.Count, Math.Max(0, _normalInUse - _queueSlots));
        }
    }

    /// <summary>Waits for a slot; the returned slot must be disposed when the message is done.</summary>
    public ValueTask<Slot> AcquireAsync(bool urgent, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (CanTake(urgent))
                return ValueTask.FromResult(Take(urgent));

            cancellationToken.ThrowIfCancellationRequested();
            waiter = new Waiter(urgent);
            waiter.Node = (urgent ? _urgentWaiters : _normalWaiters).AddLast(waiter);
        }

        if (cancellationToken.CanBeCanceled)
            waiter.Registration = cancellationToken.Register(static state => ((Waiter)state!).Gate!.Cancel((Waiter)state!), waiter.WithGate(this));
        return new ValueTask<Slot>(waiter.Completion.Task);
    }

    bool CanTake(bool urgent) => _mode == AmbulanceMode.Carpool
        ? urgent ? _urgentInUse < _laneSlots : _normalInUse < _queueSlots
        : _urgentInUse + _normalInUse < _queueSlots + _laneSlots && (!urgent || _urgentInUse < _laneSlots);

    Slot Take(bool urgent)
    {
        if (urgent)
        {
            _urgentInUse++;
            return new Slot(this, urgent: true, borrowed: false);
        }
        _normalInUse++;
        return new Slot(this, urgent: false, borrowed: _normalInUse > _queueSlots);
    }

    void Release(bool urgent)
    {
        List<(Waiter Waiter, Slot Slot)>? granted = null;
        lock (_lock)
        {
            if (urgent)
                _urgentInUse--;
            else
                _normalInUse--;

            while (NextWaiter() is { } next)
            {
                next.Node!.List!.Remove(next.Node);
                (granted ??= []).Add((next, Take(next.Urgent)));
            }
        }

        if (granted is null)
            return;
        foreach (var (waiter, slot) in granted)
        {
            waiter.Registration.Dispose();
            if (!waiter.Completion.TrySetResult(slot))
                slot.Dispose();
        }
    }

    Waiter? NextWaiter()
    {
        var urgent = _urgentWaiters.First is { } u && CanTake(urgent: true) ? u.Value : null;
        var normal = _normalWaiters.First is { } n && CanTake(urgent: false) ? n.Value : null;
        if (urgent is null || normal is null)
        {
            if (urgent is not null && _urgentWeight is not null)
                _urgentStreak = 0;
            return urgent ?? normal;
        }

        // Both wait for the same freed slot (ambulance mode): strict priority, or w urgent for 1 normal.
        if (_urgentWeight is not { } weight || _urgentStreak < weight)
        {
            _urgentStreak++;
            return urgent;
        }
        _urgentStreak = 0;
        return normal;
    }

    void Cancel(Waiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Node?.List is null)
                return;
            waiter.Node.List.Remove(waiter.Node);
        }
        waiter.Completion.TrySetCanceled();
    }

    /// <summary>A held slot; disposing it frees the slot for the next waiter.</summary>
    public sealed class Slot : IDisposable
    {
        LaneGate? _gate;

        internal Slot(LaneGate gate, bool urgent, bool borrowed)
        {
            _gate = gate;
            Urgent = urgent;
            Borrowed = borrowed;
        }

        public bool Urgent { get; }

        /// <summary>True when normal work took one of the lane's slots.</summary>
        public bool Borrowed { get; }

        public void Dispose() => Interlocked.Exchange(ref _gate, null)?.Release(Urgent);
    }

    sealed class Waiter(bool urgent)
    {
        public readonly TaskCompletionSource<Slot> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly bool Urgent = urgent;
        public LinkedListNode<Waiter>? Node;
        public CancellationTokenRegistration Registration;
        public LaneGate? Gate;

        public Waiter WithGate(LaneGate gate)
        {
            Gate = gate;
            return this;
        }
    }
}
