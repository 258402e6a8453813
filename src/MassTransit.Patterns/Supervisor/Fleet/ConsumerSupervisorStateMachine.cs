using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>
/// The supervisor saga: receives every instance's heartbeat (with its depth reading), keeps the
/// fleet's target with the same rules one instance uses alone, and answers each instance with its
/// share, so that N instances together run the target rather than N times it.
/// </summary>
public sealed class ConsumerSupervisorStateMachine : MassTransitStateMachine<ConsumerSupervisorState>
{
    readonly SupervisorInstruments? _instruments;

    /// <summary>
    /// Creates the state machine; <paramref name="time"/> is the saga's clock for liveness and cool-down,
    /// <paramref name="meterFactory"/> (from the container) carries its fleet gauges (none when null).
    /// </summary>
    public ConsumerSupervisorStateMachine(TimeProvider? time = null, IMeterFactory? meterFactory = null)
    {
        time ??= TimeProvider.System;
        _instruments = meterFactory is null ? null : new SupervisorInstruments(new PatternsMeter(meterFactory));
        InstanceState(x => x.CurrentState);
        Event(() => Reported, e => e.CorrelateById(m => m.Message.CorrelationId));

        Initially(When(Reported).ThenAsync(c => ApplyAsync(c, time, _instruments)).TransitionTo(Supervising));
        During(Supervising, When(Reported).ThenAsync(c => ApplyAsync(c, time, _instruments)));
    }

    /// <summary>Heartbeats are being received.</summary>
    public State Supervising { get; private set; } = null!;

    /// <summary>An instance's heartbeat.</summary>
    public Event<ReportSupervisorInstance> Reported { get; private set; } = null!;

    static async Task ApplyAsync(BehaviorContext<ConsumerSupervisorState, ReportSupervisorInstance> context, TimeProvider time, SupervisorInstruments? instruments)
    {
        var share = SupervisorFleet.Apply(context.Saga, context.Message, time.GetUtcNow());
        var queue = new KeyValuePair<string, object?>(PatternsTags.Queue, share.Queue);
        instruments?.FleetTarget.Record(share.Target, queue, SupervisorInstruments.PatternTag);
        instruments?.FleetInstances.Record(share.Instances, queue, SupervisorInstruments.PatternTag);
        await context.RespondAsync(share).ConfigureAwait(false);
    }
}
