namespace MassTransit.Patterns.Contextual;

/// <summary>A snapshot of one context or bucket queue.</summary>
/// <param name="QueueName">The queue.</param>
/// <param name="Contexts">The context keys routed to it (one, or several for a bucket).</param>
/// <param name="State">Its state.</param>
/// <param name="IsStatic">Declared up front; never retired.</param>
/// <param name="IsBucket">A bucket shared by contexts beyond the cap.</param>
/// <param name="Consumed">Messages consumed from it.</param>
public sealed record ContextQueueInfo(string QueueName, IReadOnlyList<string> Contexts, ContextQueueState State, bool IsStatic, bool IsBucket, long Consumed);
