using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>What the flow monitor watches and how long its word holds.</summary>
public sealed class FlowMonitorOptions : IPatternOptions
{
    readonly Dictionary<string, WatchedQueue> _queues = new(StringComparer.Ordinal);

    /// <summary>The watched queues.</summary>
    public IReadOnlyCollection<WatchedQueue> Queues => _queues.Values;

    /// <summary>How long a state holds without renewal. Default 15 s; renewed every third of it.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>What counts as depth. Default ready (every probe knows it).</summary>
    public DepthMeasure Measure { get; set; } = DepthMeasure.Ready;

    /// <summary>
    /// Publish state changes on the bus for producers in other processes (default true). Producers in
    /// this process learn them directly either way.
    /// </summary>
    public bool PublishToBus { get; set; } = true;

    /// <summary>Watches <paramref name="queue"/> with the given marks.</summary>
    public WatchedQueue Watch(string queue, long highWatermark, long lowWatermark, long? stopMark = null)
    {
        if (!_queues.TryGetValue(queue, out var watched))
            _queues[queue] = watched = new WatchedQueue(queue);
        watched.HighWatermark = highWatermark;
        watched.LowWatermark = lowWatermark;
        watched.StopMark = stopMark;
        return watched;
    }

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.Positive(Lease, nameof(Lease))
            .Require(_queues.Count > 0, nameof(Queues), "must watch at least one queue (Watch(queue, high, low)).");
        foreach (var q in _queues.Values)
        {
            var name = $"Queues[{q.Queue}]";
            validator.NotEmpty(q.Queue, name)
                .Positive(q.HighWatermark, $"{name}.HighWatermark")
                .NotNegative(q.LowWatermark, $"{name}.LowWatermark")
                .Require(q.LowWatermark < q.HighWatermark, $"{name}.LowWatermark",
                    $"must be below HighWatermark ({q.LowWatermark} >= {q.HighWatermark}): without a gap the state flaps.")
                .Require(q.StopMark is null || q.StopMark > q.HighWatermark, $"{name}.StopMark",
                    $"must be above HighWatermark ({q.StopMark} <= {q.HighWatermark}).");
        }
    }
}
