using MassTransit.Patterns.RabbitMQ.Watch;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>Watch notifications on RabbitMQ: a watcher whose queue is gone is detected at the first change and pruned.</summary>
public static class RabbitMqWatchConfigurationExtensions
{
    /// <summary>
    /// Sends every change notification straight to the watcher's queue through the broker's default
    /// exchange (MassTransit's <c>amq.rabbitmq.reply-to</c> route: nothing is declared, so a dead watcher's
    /// queue or exchange is never created again) as a mandatory, confirmed publish: when the queue is gone
    /// (its process stopped) the broker returns the message (<c>basic.return</c>, raised by MassTransit as
    /// <see cref="MessageReturnedException"/>) instead of dropping it, and the source prunes the watcher after
    /// <see cref="WatchSourceOptions.DeliveryAttempts"/>. Lease expiry still prunes watchers on every
    /// transport; this makes it immediate on RabbitMQ.
    /// </summary>
    public static IServiceCollection AddRabbitMqWatchDelivery(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Replace(ServiceDescriptor.Singleton<IWatchDeliveryTransport, RabbitMqWatchDeliveryTransport>());
        return services;
    }
}
