using System.Runtime.CompilerServices;
using MassTransit.Patterns.ThreadDelegate;

namespace MassTransit.Patterns.RabbitMQ.ThreadDelegate;

/// <summary>
/// RabbitMQ's delivery order for the thread delegate: the broker numbers the deliveries of a channel
/// 1, 2, 3... (the delivery tag), and MassTransit consumes each receive endpoint on its own channel,
/// so the consumer tag names the stream and the delivery tag is the exact position, whatever the
/// endpoint's prefetch and concurrency. Registered automatically when this assembly loads; set
/// <see cref="ThreadDelegateOptions.DeliveryOrder"/> (or call <see cref="RabbitMqThreadDelegateExtensions.UseRabbitMqDeliveryTags"/>) to be explicit.
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
            stream = rabbit.ConsumerTag;
            position = (long)rabbit.DeliveryTag;
            return rabbit.ConsumerTag is not null;
        }
        stream = "";
        position = 0;
        return false;
    }

#pragma warning disable CA2255 // Registering the transport's delivery order when the transport package loads is the point.
    [ModuleInitializer]
    internal static void Register() => DeliveryOrders.Register(Instance);
#pragma warning restore CA2255
}

/// <summary>RabbitMQ helpers of the thread delegate pattern.</summary>
public static class RabbitMqThreadDelegateExtensions
{
    /// <summary>Orders deliveries by their RabbitMQ delivery tag (exact delivery order per channel).</summary>
    public static ThreadDelegateOptions UseRabbitMqDeliveryTags(this ThreadDelegateOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.DeliveryOrder = RabbitMqDeliveryOrder.Instance;
        return options;
    }
}
