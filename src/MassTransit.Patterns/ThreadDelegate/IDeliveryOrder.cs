namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// Where a delivery stands in the transport's own delivery order. With concurrency above one,
/// MassTransit runs deliveries concurrently, so two messages of a key can reach any filter out of
/// delivery order; a position lets the thread delegate admit them to lanes in the order the transport
/// delivered them. Implemented for RabbitMQ (delivery tags, in MassTransit.Patterns.RabbitMQ).
/// </summary>
public interface IDeliveryOrder
{
    /// <summary>
    /// Reads the delivery's stream (one per broker channel or session: any value with equality) and its
    /// position in it. Positions must start at 1 on a new stream and grow by exactly one per delivery,
    /// every delivery of the stream passing through the endpoint's receive pipe. Returns false when the
    /// context carries no position (the filter then falls back to arrival order).
    /// </summary>
    bool TryGetPosition(ReceiveContext context, out object stream, out long position);
}

/// <summary>
/// Delivery orders registered by transport packages, tried in turn when an endpoint sets no
/// <see cref="ThreadDelegateOptions.DeliveryOrder"/>. MassTransit.Patterns.RabbitMQ registers its
/// delivery-tag order when it is loaded.
/// </summary>
public static class DeliveryOrders
{
    static volatile IDeliveryOrder[] _registered = [];

    /// <summary>The registered delivery orders.</summary>
    public static IReadOnlyList<IDeliveryOrder> Registered => _registered;

    /// <summary>Registers <paramref name="order"/> (once per type).</summary>
    public static void Register(IDeliveryOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        lock (typeof(DeliveryOrders))
        {
            if (_registered.Any(o => o.GetType() == order.GetType()))
                return;
            _registered = [.. _registered, order];
        }
    }
}
