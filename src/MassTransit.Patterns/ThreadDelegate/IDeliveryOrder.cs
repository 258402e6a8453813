namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// Where a delivery stands in the transport's own delivery order. With concurrency above one,
/// MassTransit runs deliveries concurrently, so two messages of a key can reach any filter out of
/// delivery order; a position lets the thread delegate admit them to lanes in the order the transport
/// delivered them. Chosen per endpoint with <see cref="ThreadDelegateOptions.DeliveryOrder"/>: RabbitMQ's
/// delivery tags come with MassTransit.Patterns.RabbitMQ (<c>o.UseRabbitMqDeliveryOrder()</c>); the
/// in-memory transport needs none; on any other transport start-up fails until one is chosen.
/// </summary>
public interface IDeliveryOrder
{
    /// <summary>
    /// Reads the delivery's stream (one per broker channel or session: any value with equality) and its
    /// position in it. Positions must start at 1 on a new stream and grow by exactly one per delivery,
    /// every delivery of the stream passing through the endpoint's receive pipe. Returns false when the
    /// context carries no position (that delivery is then admitted as it arrives).
    /// </summary>
    bool TryGetPosition(ReceiveContext context, out object stream, out long position);

    /// <summary>
    /// Whether this order can read positions on <paramref name="endpoint"/>'s transport (checked at
    /// start-up: a mismatch fails the bus start instead of ordering by arrival). Default true.
    /// </summary>
    bool Supports(IReceiveEndpointConfigurator endpoint) => true;

    /// <summary>
    /// True when a delivery whose receive context is canceled and which faults with
    /// <see cref="OperationCanceledException"/> stays unacknowledged and goes back to the broker, in its
    /// place, when the consumer's channel closes (RabbitMQ). The thread delegate then keeps order when
    /// the endpoint stops with a gap (a delivery the transport dropped while stopping): the deliveries
    /// after the gap are returned unprocessed instead of run ahead of the missing one. Default false
    /// (the gap is skipped after <see cref="ThreadDelegateOptions.SequenceGapTimeout"/>).
    /// </summary>
    bool ReturnsCanceledDeliveries => false;
}
