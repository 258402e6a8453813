namespace MassTransit.Patterns.ControlFlow;

/// <summary>
/// What this process's producers met at one queue since start, counted by <see cref="FlowControlStateStore"/> for every
/// <c>UseProducerControlFlow</c> bus that shares it.
/// </summary>
/// <param name="Queue">The queue.</param>
/// <param name="Throttled">Sends and publishes delayed, rate-limited or held by the queue's state, then let through.</param>
/// <param name="Rejected">Sends and publishes refused with <see cref="BackPressureException"/>.</param>
/// <param name="UrgentBypassed">Urgent (ambulance-marked) messages let past a slowed or stopped state.</param>
/// <param name="HeldNow">Sends and publishes being held right now.</param>
public readonly record struct ProducerThrottling(string Queue, long Throttled, long Rejected, long UrgentBypassed, int HeldNow);
