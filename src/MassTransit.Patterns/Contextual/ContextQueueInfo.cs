namespace MassTransit.Patterns.Contextual;

/// <summary>A snapshot of one context or bucket queue.</summary>
/// <param name="QueueName">The queue.</param>
/// <param name="Contexts">The context keys routed to it (one, or several for a bucket).</param>
/// <param name="State">Its state.</param>
/// <param name="IsStatic">Declared up front; never retired.</param>
/// <param name="IsBucket">A bucket shared by contexts beyond the cap.</param>
/// <param name="Consumed">Messages consumed from it.</param>
public sealed record ContextQueueInfo(string QueueName, IReadOnlyList<string> Contexts, ContextQueueState State, bool IsStatic, bool IsBucket, long Consumed)
{
    /// <summary>How long since the queue last started or finished a message (or since it was created): what idle retirement compares with <see cref="ContextualQueueOptions.IdleTimeout"/>.</summary>
    public TimeSpan Idle { get; init; }

    /// <summary>Messages being consumed from it now.</summary>
    public long InFlight { get; init; }
}
