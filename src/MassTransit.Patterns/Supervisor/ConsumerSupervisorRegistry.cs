using System.Collections.Concurrent;

namespace MassTransit.Patterns.Supervisor;

/// <summary>The supervisors of the endpoints configured in one container, by queue.</summary>
public sealed class ConsumerSupervisorRegistry
{
    readonly ConcurrentDictionary<string, IConsumerSupervisor> _supervisors = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every supervisor registered.</summary>
    public IReadOnlyCollection<IConsumerSupervisor> All => _supervisors.Values.ToArray();

    /// <summary>The supervisor of <paramref name="queue"/>.</summary>
    public IConsumerSupervisor Get(string queue) =>
        _supervisors.TryGetValue(queue, out var supervisor) ? supervisor : throw new KeyNotFoundException($"No supervisor for queue '{queue}'.");

    /// <summary>The supervisor of <paramref name="queue"/>, if any.</summary>
    public bool TryGet(string queue, out IConsumerSupervisor supervisor) => _supervisors.TryGetValue(queue, out supervisor!);

    internal void Add(IConsumerSupervisor supervisor) => _supervisors[supervisor.Queue] = supervisor;
}
