using MassTransit.Patterns.ThreadDelegate;
using MassTransit.RabbitMqTransport;

namespace MassTransit.Patterns.RabbitMQ.ThreadDelegate;

/// <summary>
/// RabbitMQ's delivery order for the thread delegate: the broker numbers the deliveries of a channel
/// 1, 2, 3... (the delivery tag), and MassTransit consumes each receive endpoint on its own channel,
/// so the channel names the stream and the delivery tag is the exact
/// position, whatever the endpoint's prefetch and concurrency. Chosen with <c>o.UseRabbitMqDeliveryOrder()</c> (or the
/// <c>UseThreadDelegate</c> overload of a RabbitMQ receive endpoint).
/// </summary>
public sealed class RabbitMqDeliveryOrder : IDeliveryOrder
{
    /// <summary>The one instance.</summary>
    public static RabbitMqDeliveryOrder Instance { get; } = new();

    RabbitMqDeliveryOrder()
    {
    }

    /// <inheritdoc />
    public bool TryGetPosition(ReceiveContext context, out object stream, out long position)
    {
        if (context is RabbitMqBasicConsumeContext rabbit || context.TryGetPayload(out rabbit!))
        {
            // Delivery tags count per channel. MassTransit consumes again with the same consumer tag
            // after a restart or a reconnect, on a new channel whose tags start again at 1, and the
            // first deliveries of a consume can carry no consumer tag yet: the channel names the stream.
            position = (long)rabbit.DeliveryTag;
            if (context.TryGetPayload<ChannelContext>(out var channel))
            {
                stream = channel.Channel;
                return true;
            }
            stream = rabbit.ConsumerTag ?? "";
            return rabbit.ConsumerTag is not null;
        }
        stream = "";
        position = 0;
        return false;
    }

    /// <summary>Delivery tags exist only on a RabbitMQ receive endpoint.</summary>
    public bool Supports(IReceiveEndpointConfigurator endpoint) => endpoint is IRabbitMqReceiveEndpointConfigurator;

    /// <summary>
    /// A delivery left unacknowledged goes back to the queue, in its place, when MassTransit closes
    /// the endpoint's channel (at stop): the thread delegate may return deliveries that would
    /// otherwise run ahead of one the transport dropped while stopping.
    /// </summary>
    public bool ReturnsCanceledDeliveries => true;
}
