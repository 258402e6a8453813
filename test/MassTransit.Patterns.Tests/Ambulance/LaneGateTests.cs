using MassTransit.Patterns.Ambulance;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>The shared slot budget on its own: who gets a freed slot, and what each side is always left.</summary>
public sealed class LaneGateTests
{
    static LaneGate Gate(int queueSlots, int laneSlots, AmbulanceMode mode = AmbulanceMode.Ambulance, int? weight = null) =>
        new("q", "q_lane", laneSlots, mode, weight, queueSlots);

    static LaneGate.Slot Take(LaneGate gate, bool urgent)
    {
        var pending = gate.AcquireAsync(urgent, CancellationToken.None);
        Assert.True(pending.IsCompletedSuccessfully, $"a {(urgent ? "urgent" : "normal")} slot was expected to be free");
        return pending.Result;
    }

    static Task<LaneGate.Slot> Wait(LaneGate gate, bool urgent, CancellationToken cancellationToken = default)
    {
        var pending = gate.AcquireAsync(urgent, cancellationToken);
        Assert.False(pending.IsCompleted, $"a {(urgent ? "urgent" : "normal")} message was expected to wait");
        return pending.AsTask();
    }

    [Fact]
    public void In_ambulance_mode_normal_work_takes_idle_lane_slots_and_no_more()
    {
        var gate = Gate(queueSlots: 2, laneSlots: 1);

        var own1 = Take(gate, urgent: false);
        var own2 = Take(gate, urgent: false);
        var borrowed = Take(gate, urgent: false);
        _ = Wait(gate, urgent: false);

        Assert.False(own1.Borrowed);
        Assert.False(own2.Borrowed);
        Assert.True(borrowed.Borrowed);
        Assert.Equal(new GateState(UrgentInUse: 0, NormalInUse: 3, UrgentWaiting: 0, NormalWaiting: 1, Borrowed: 1), gate.State);
    }

    [Fact]
    public async Task A_freed_slot_goes_to_the_waiting_urgent_message_before_normal_messages_that_waited_longer()
    {
        var gate = Gate(queueSlots: 1, laneSlots: 1);
        var first = Take(gate, urgent: false);
        Take(gate, urgent: false);
        var normal = Wait(gate, urgent: false);
        var urgent = Wait(gate, urgent: true);

        first.Dispose();

        var slot = await urgent.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(slot.Urgent);
        Assert.False(normal.IsCompleted);
    }

    [Fact]
    public async Task Urgent_work_never_holds_more_than_the_lane_slots_so_normal_work_keeps_its_own()
    {
        var gate = Gate(queueSlots: 2, laneSlots: 1);
        var normal1 = Take(gate, urgent: false);
        var normal2 = Take(gate, urgent: false);
        Take(gate, urgent: false);
        var urgent1 = Wait(gate, urgent: true);
        var urgent2 = Wait(gate, urgent: true);
        var waitingNormal = Wait(gate, urgent: false);

        normal1.Dispose();
        await urgent1.WaitAsync(TimeSpan.FromSeconds(5));
        normal2.Dispose();

        // The lane holds its one slot: the freed slot goes to normal work although urgent work waits.
        var slot = await waitingNormal.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(slot.Urgent);
        Assert.False(urgent2.IsCompleted);
        Assert.Equal(1, gate.State.UrgentInUse);
        Assert.Equal(2, gate.State.NormalInUse);
    }

    [Fact]
    public async Task With_a_weight_w_urgent_work_gets_w_freed_slots_for_each_one_normal_work_gets()
    {
        // Three lane slots, so the lane's cap does not decide: only the weight does.
        var gate = Gate(queueSlots: 2, laneSlots: 3, weight: 2);
        var held = Enumerable.Range(0, 5).Select(_ => Take(gate, urgent: false)).ToList();
        var waiters = new List<(bool Urgent, Task<LaneGate.Slot> Task)>();
        for (var i = 0; i < 3; i++)
            waiters.Add((true, Wait(gate, urgent: true)));
        for (var i = 0; i < 2; i++)
            waiters.Add((false, Wait(gate, urgent: false)));

        // A freed slot is handed over inside Dispose: exactly one waiter completes each time.
        var order = new List<bool>();
        foreach (var slot in held.Take(4))
        {
            slot.Dispose();
            var granted = Assert.Single(waiters, w => w.Task.IsCompletedSuccessfully);
            order.Add(granted.Urgent);
            waiters.Remove(granted);
        }

        Assert.Equal([true, true, false, true], order);
    }

    [Fact]
    public void In_carpool_mode_neither_side_waits_for_the_other()
    {
        var gate = Gate(queueSlots: 1, laneSlots: 1, mode: AmbulanceMode.Carpool);

        var normal = Take(gate, urgent: false);
        _ = Wait(gate, urgent: false);
        var urgent = Take(gate, urgent: true);
        _ = Wait(gate, urgent: true);

        Assert.False(normal.Borrowed);
        Assert.True(urgent.Urgent);
    }

    [Fact]
    public async Task A_cancelled_waiter_gives_up_its_place()
    {
        var gate = Gate(queueSlots: 1, laneSlots: 1);
        var first = Take(gate, urgent: false);
        Take(gate, urgent: false);
        using var cancel = new CancellationTokenSource();
        var cancelled = Wait(gate, urgent: true, cancel.Token);
        var next = Wait(gate, urgent: false);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        first.Dispose();

        Assert.False((await next.WaitAsync(TimeSpan.FromSeconds(5))).Urgent);
    }
}
