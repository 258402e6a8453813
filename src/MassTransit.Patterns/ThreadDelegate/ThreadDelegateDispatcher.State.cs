
namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The bookkeeping: lanes, keys, sequence streams and delivery tickets (all guarded by the dispatcher's lock).</summary>
sealed partial class ThreadDelegateDispatcher
{
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
}
