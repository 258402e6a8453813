namespace MassTransit.Patterns.Ambulance;

/// <summary>One queue's ambulance lane as it stands now in this process (<see cref="AmbulanceLaneRegistry"/>).</summary>
/// <param name="Queue">The queue the lane stands beside.</param>
/// <param name="Lane">The lane's queue.</param>
/// <param name="Mode">Ambulance (one shared budget, idle lane slots lent to normal work) or carpool (separate budgets).</param>
/// <param name="QueueSlots">The queue's own slots (N).</param>
/// <param name="LaneSlots">The lane's reserved slots (L).</param>
/// <param name="UrgentInUse">Slots urgent messages hold now.</param>
/// <param name="UrgentWaiting">Urgent messages waiting for a slot now.</param>
/// <param name="NormalInUse">Slots normal messages hold now (borrowed ones included).</param>
/// <param name="NormalWaiting">Normal messages waiting for a slot now.</param>
/// <param name="Borrowed">Lane slots normal work holds now (ambulance mode).</param>
/// <param name="UrgentWaitSamples">Urgent waits recorded within <paramref name="Window"/> (at most the reservoir's size, the latest).</param>
/// <param name="UrgentWaitP50Ms">Median time from sending an urgent message until it got a slot, in ms, within the window; null without samples.</param>
/// <param name="UrgentWaitP99Ms">99th percentile of the same; null without samples.</param>
/// <param name="Window">The window the percentiles cover.</param>
public sealed record AmbulanceLaneSnapshot(string Queue, string Lane, AmbulanceMode Mode, int QueueSlots, int LaneSlots, int UrgentInUse, int UrgentWaiting,
    int NormalInUse, int NormalWaiting, int Borrowed, int UrgentWaitSamples, double? UrgentWaitP50Ms, double? UrgentWaitP99Ms, TimeSpan Window)
{
    /// <summary>Urgent messages this process holds from the lane: waiting for a slot or in flight.</summary>
    public int LaneDepth => UrgentInUse + UrgentWaiting;

    /// <summary>The slots the queue and its lane have: N + L shared in ambulance mode, the same sum as two separate budgets in carpool mode.</summary>
    public int SlotBudget => QueueSlots + LaneSlots;

    /// <summary>Slots held now, urgent and normal.</summary>
    public int SlotsInUse => UrgentInUse + NormalInUse;
}
