namespace MassTransit.Patterns.Watch;

/// <summary>
/// What a transport adds to the delivery of change notifications: a way to learn that a watcher's
/// address is gone. Optional: without one, a dead watcher is pruned when its lease expires. RabbitMQ's
/// (<c>services.AddRabbitMqWatchDelivery()</c>) makes each notification mandatory, so a send to an
/// address with no queue behind it comes back as an error instead of being dropped.
/// </summary>
public interface IWatchDeliveryTransport
{
    /// <summary>Where a notification for the watcher at <paramref name="watcherAddress"/> is sent (the address itself, or a transport-specific route to it).</summary>
    Uri DeliveryAddress(Uri watcherAddress);

    /// <summary>Prepares the send of one notification to the watcher at <paramref name="watcherAddress"/> (e.g. marks it mandatory).</summary>
    void Prepare(SendContext context, Uri watcherAddress);

    /// <summary>True when <paramref name="exception"/>, thrown by a notification's send, means that its address cannot be reached.</summary>
    bool IsUnreachable(Exception exception);
}
