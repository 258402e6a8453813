namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// The order in which deliveries reach the thread delegate's filter: best effort, for a transport whose
/// delivery order cannot be read. MassTransit's concurrent dispatch can reorder two deliveries that
/// arrive close together, so two messages of a key sent in quick succession can run out of order.
/// Choose it explicitly with <see cref="ThreadDelegateOptions.UseArrivalOrder"/>.
/// </summary>
public sealed class ArrivalDeliveryOrder : IDeliveryOrder
{
    /// <summary>The one instance.</summary>
    public static ArrivalDeliveryOrder Instance { get; } = new();

    ArrivalDeliveryOrder()
    {
    }

    /// <inheritdoc />
    public bool TryGetPosition(ReceiveContext context, out object stream, out long position)
    {
        stream = "";
        position = 0;
        return false;
    }
}
