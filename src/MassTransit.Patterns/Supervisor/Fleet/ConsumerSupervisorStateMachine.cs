using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>
/// The supervisor saga's state: one instance per supervised queue. Plain columns plus the live
/// instances as JSON, so any saga repository (in-memory, EF Core) stores it without extra mapping.
/// </summary>
public sealed class ConsumerSupervisorState : SagaStateMachineInstance
{
    /// <inheritdoc />
    public Guid CorrelationId { get; set; }

    /// <summary>The state machine's state.</summary>
    public string CurrentState { get; set; } = "";

    /// <summary>The supervised queue.</summary>
    public string Queue { get; set; } = "";

    /// <summary>Consumers the whole fleet should run.</summary>
    public int Target { get; set; }

    /// <summary>Since when every heartbeat wanted a lower target (the cool-down), or null.</summary>
    public DateTimeOffset? LowerSince { get; set; }

    /// <summary>The lower targets wanted within the last cool-down, as JSON (a sliding-window maximum, highest first).</summary>
    public string RecentLower { get; set; } = "[]";

    /// <summary>The fleet depth of the last successful reading, or null.</summary>
    public long? Depth { get; set; }

    /// <summary>Live instances.</summary>
    public int InstanceCount { get; set; }

    /// <summary>The live instances and their shares, as JSON (<see cref="SupervisorFleet.ReadInstances"/>).</summary>
    public string Instances { get; set; } = "[]";

    /// <summary>When the last heartbeat was applied.</summary>
    public DateTimeOffset UpdatedAt { get; set; }
}

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

/// <summary>
/// The supervisor saga's endpoint: a lost race on the saga row (<see cref="ConcurrencyException"/>,
/// when several instances host the saga on a shared store) is retried, and the answer is sent only
/// once the attempt commits.
/// </summary>
public sealed class ConsumerSupervisorSagaDefinition : SagaDefinition<ConsumerSupervisorState>
{
    /// <summary>Creates the definition.</summary>
    public ConsumerSupervisorSagaDefinition()
    {
        ConcurrentMessageLimit = 8;
    }

    /// <inheritdoc />
    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<ConsumerSupervisorState> sagaConfigurator,
        IRegistrationContext context)
    {
        endpointConfigurator.UseSagaConcurrencyRetry();
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
