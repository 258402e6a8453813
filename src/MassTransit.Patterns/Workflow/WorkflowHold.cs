using System.Collections.Concurrent;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// A later message of a key whose earlier message is being repaired: held by the processor behind
/// that message (its leader) and released, in order, once the leader is completed or discarded.
/// </summary>
public sealed record WorkflowMessageHeld
{
    /// <summary>The leader's workflow id (the failed message's original id).</summary>
    public Guid CorrelationId { get; init; }

    /// <summary>The held message's id.</summary>
    public Guid MessageId { get; init; }

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The order the endpoint received the key's messages in.</summary>
    public long Sequence { get; init; }

    /// <summary>The queue it came from, where it is released to.</summary>
    public Uri? SourceAddress { get; init; }

    /// <summary>The raw body's content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>The raw body.</summary>
    public byte[] Body { get; init; } = [];

    /// <summary>The transport headers, as text.</summary>
    public Dictionary<string, string> Headers { get; init; } = [];
}

/// <summary>A key is held (a message of it was handed to the processor): every instance holds its later messages.</summary>
public sealed record WorkflowKeyHeld
{
    /// <summary>The queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The leader's workflow id.</summary>
    public Guid LeaderId { get; init; }
}

/// <summary>The leader of a held key was resolved and the messages held behind it were released.</summary>
public sealed record WorkflowKeyReleased
{
    /// <summary>The queue.</summary>
    public string Queue { get; init; } = "";

    /// <summary>The key.</summary>
    public string Key { get; init; } = "";

    /// <summary>The leader's workflow id.</summary>
    public Guid LeaderId { get; init; }
}

/// <summary>
/// The keys held in this process, per queue: key to leader id. Filled when this process hands a
/// keyed failure off and when another instance announces one (<see cref="WorkflowKeyHeld"/>); emptied
/// when the leader's release is announced (<see cref="WorkflowKeyReleased"/>).
/// </summary>
public sealed class WorkflowHoldRegistry
{
    readonly ConcurrentDictionary<(string Queue, string Key), Guid> _held = new();
    readonly ConcurrentDictionary<(string Queue, string Key), long> _sequence = new();

    /// <summary>The leader holding <paramref name="key"/> on <paramref name="queue"/>, or null.</summary>
    public Guid? LeaderOf(string queue, string key) => _held.TryGetValue((queue, key), out var leader) ? leader : null;

    /// <summary>Keys held now.</summary>
    public int Count => _held.Count;

    /// <summary>Holds <paramref name="key"/> behind <paramref name="leaderId"/> unless it is already held; returns the holding leader.</summary>
    public Guid Hold(string queue, string key, Guid leaderId) => _held.GetOrAdd((queue, key), leaderId);

    /// <summary>Releases the key if <paramref name="leaderId"/> still holds it.</summary>
    public bool Release(string queue, string key, Guid leaderId) => _held.TryRemove(new KeyValuePair<(string, string), Guid>((queue, key), leaderId));

    internal long NextSequence(string queue, string key) => _sequence.AddOrUpdate((queue, key), 1, (_, n) => n + 1);
}

/// <summary>Keeps this process's <see cref="WorkflowHoldRegistry"/> in step with the other instances and the processor.</summary>
public sealed class WorkflowHoldConsumer(WorkflowHoldRegistry registry) : IConsumer<WorkflowKeyHeld>, IConsumer<WorkflowKeyReleased>
{
    /// <inheritdoc />
    public Task Consume(ConsumeContext<WorkflowKeyHeld> context)
    {
        registry.Hold(context.Message.Queue, context.Message.Key, context.Message.LeaderId);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task Consume(ConsumeContext<WorkflowKeyReleased> context)
    {
        registry.Release(context.Message.Queue, context.Message.Key, context.Message.LeaderId);
        return Task.CompletedTask;
    }
}

/// <summary>The processor received a held message before the failure of its leader: retried until the leader exists.</summary>
public sealed class WorkflowLeaderNotFoundException(Guid leaderId) : Exception($"The workflow {leaderId} a message is held behind does not exist (yet).")
{
    /// <summary>The leader's id.</summary>
    public Guid LeaderId { get; } = leaderId;
}
