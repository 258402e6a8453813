namespace MassTransit.Patterns.QueueDepth;

/// <summary>
/// One reading of a queue's depth. <see cref="Ready"/> is what waits to be delivered;
/// <see cref="Unacknowledged"/> is what has been delivered to consumers and not yet settled, when
/// the probe can know it (null when it cannot: an AMQP passive declare, for one, only sees ready).
/// </summary>
/// <param name="Queue">The queue's name.</param>
/// <param name="Ready">Messages waiting to be delivered.</param>
/// <param name="Unacknowledged">Messages delivered and not yet acknowledged, or null when unknown.</param>
/// <param name="Consumers">Consumers attached to the queue, or null when unknown.</param>
/// <param name="ObservedAt">When the reading was taken (by the broker where it says so).</param>
public readonly record struct QueueDepthSample(string Queue, long Ready, long? Unacknowledged, int? Consumers, DateTimeOffset ObservedAt)
{
    /// <summary>Ready plus unacknowledged, counting unacknowledged as zero where unknown.</summary>
    public long Total => Ready + (Unacknowledged ?? 0);

    /// <summary>The depth as the caller chose to count it.</summary>
    /// <exception cref="QueueDepthProbeException">
    /// <see cref="DepthMeasure.ReadyAndUnacknowledged"/> was asked of a reading that does not know unacknowledged.
    /// </exception>
    public long Measure(DepthMeasure measure) => measure switch
    {
        DepthMeasure.Ready => Ready,
        DepthMeasure.ReadyAndUnacknowledged when Unacknowledged.HasValue => Ready + Unacknowledged.Value,
        DepthMeasure.ReadyAndUnacknowledged => throw new QueueDepthProbeException(Queue, "probe", QueueDepthFailure.Unsupported,
            "This probe does not report unacknowledged messages; measure Ready, or use a probe that knows unacknowledged (e.g. the RabbitMQ management probe)."),
        _ => throw new ArgumentOutOfRangeException(nameof(measure), measure, null)
    };
}
