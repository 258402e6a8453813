using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>How this process's producers obey the flow monitors.</summary>
public sealed class ProducerControlFlowOptions : IPatternOptions
{
    /// <summary>The action while a queue is slow. Default <see cref="SlowAction.RateLimit"/>.</summary>
    public SlowAction WhenSlow { get; set; } = SlowAction.RateLimit;

    /// <summary>The action while a queue is stopped. Default <see cref="StopAction.Wait"/>.</summary>
    public StopAction WhenStopped { get; set; } = StopAction.Wait;

    /// <summary>The pause before each send with <see cref="SlowAction.Delay"/>. Default 50 ms.</summary>
    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Messages a second per queue with <see cref="SlowAction.RateLimit"/>. Default 100.</summary>
    public double SlowRatePerSecond { get; set; } = 100;

    /// <summary>The longest a send waits before <see cref="BackPressureException"/>. Default 30 s.</summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether a message marked urgent (the ambulance mark, header <c>MT-Patterns-Urgent: true</c>, from
    /// <c>SetUrgent()</c> in the send callback, an ambulance predicate or <c>[Urgent]</c>) passes a slowed or stopped
    /// queue without being delayed, rate-limited, held or rejected. Default true: the broker routes it to the queue's
    /// ambulance lane, which the monitor does not count for the queue, and the lane's promise is that it waits at most
    /// for the work in flight. An urgent message to a queue without a lane is not held either (it lands in the
    /// watched queue): urgent traffic is expected to be a small share. Bypasses are counted in
    /// <c>masstransit.patterns.control_flow.urgent_bypassed</c>. False holds urgent messages like any other.
    /// </summary>
    public bool UrgentBypass { get; set; } = true;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .Require(Enum.IsDefined(WhenSlow), nameof(WhenSlow), $"is not an action (was {WhenSlow}).")
        .Require(Enum.IsDefined(WhenStopped), nameof(WhenStopped), $"is not an action (was {WhenStopped}).")
        .Positive(SlowDelay, nameof(SlowDelay))
        .Positive(SlowRatePerSecond, nameof(SlowRatePerSecond))
        .Positive(MaxWait, nameof(MaxWait));
}
