using System.Collections.Concurrent;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The ambulance lanes configured by <c>UseAmbulanceLane</c> in one container, by lane queue: register it with
/// <c>services.AddAmbulanceLaneRegistry()</c> and every lane the bus configures adds itself, so dashboards and tests read
/// each lane's depth, slot budget and urgent waits. Optional: without it nothing is kept.
/// </summary>
public sealed class AmbulanceLaneRegistry
{
    /// <summary>The window the urgent-wait percentiles cover by default: 5 minutes.</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromMinutes(5);

    /// <summary>How many of the latest urgent waits each lane keeps for its percentiles.</summary>
    public const int UrgentWaitsKept = UrgentWaitReservoir.DefaultCapacity;

    readonly ConcurrentDictionary<string, LaneGate> _gates = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every lane now, ordered by queue, with urgent-wait percentiles over the last <see cref="DefaultWindow"/>.</summary>
    public IReadOnlyList<AmbulanceLaneSnapshot> Snapshot() => Snapshot(DefaultWindow);

    /// <summary>Every lane now, ordered by queue, with urgent-wait percentiles over the last <paramref name="window"/>.</summary>
    public IReadOnlyList<AmbulanceLaneSnapshot> Snapshot(TimeSpan window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        var now = Environment.TickCount64;
        return _gates.Values.OrderBy(g => g.Queue, StringComparer.Ordinal).Select(g => Snapshot(g, window, now)).ToArray();
    }

    static AmbulanceLaneSnapshot Snapshot(LaneGate gate, TimeSpan window, long now)
    {
        var state = gate.State;
        var waits = gate.UrgentWaits.Within(window, now);
        return new AmbulanceLaneSnapshot(gate.Queue, gate.Lane, gate.Mode, gate.QueueSlots, gate.LaneSlots, state.UrgentInUse, state.UrgentWaiting,
            state.NormalInUse, state.NormalWaiting, state.Borrowed, waits.Length, UrgentWaitReservoir.Percentile(waits, 0.5),
            UrgentWaitReservoir.Percentile(waits, 0.99), window);
    }

    internal void Add(LaneGate gate) => _gates[gate.Lane] = gate;
}
