namespace MassTransit.Patterns.QueueDepth;

/// <summary>
/// Reads a queue's depth without consuming from it. One implementation per transport: RabbitMQ
/// (AMQP passive declare; management HTTP API for ready and unacknowledged), Azure Service Bus
/// (administration client), and the in-memory transport.
/// </summary>
/// <remarks>
/// A probe never reports a failure as depth zero: it throws <see cref="QueueDepthProbeException"/>,
/// so a caller can hold its current decision instead of acting on a reading it does not have.
/// </remarks>
public interface IQueueDepthProbe
{
    /// <summary>A short name for logs and metrics, e.g. <c>rabbitmq-amqp</c>.</summary>
    string Name { get; }

    /// <summary>True when readings include <see cref="QueueDepthSample.Unacknowledged"/>.</summary>
    bool KnowsUnacknowledged { get; }

    /// <summary>Reads the depth of <paramref name="queue"/>.</summary>
    /// <exception cref="QueueDepthProbeException">The depth could not be read; the reason says why.</exception>
    Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default);
}
