using System.Collections.Concurrent;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RabbitMQ.Client.Exceptions;

namespace MassTransit.Patterns.RabbitMQ.Watch;

/// <summary>Mandatory notifications to the watcher's queue by the default exchange; a returned message or a missing exchange means unreachable.</summary>
sealed class RabbitMqWatchDeliveryTransport : IWatchDeliveryTransport
{
    const string DefaultExchangeRoute = "amq.rabbitmq.reply-to";
    readonly ConcurrentDictionary<Uri, (Uri Address, string? Queue)> _routes = new();

    (Uri Address, string? Queue) Route(Uri watcherAddress) => _routes.GetOrAdd(watcherAddress, static address =>
    {
        if (!address.Scheme.StartsWith("rabbitmq", StringComparison.OrdinalIgnoreCase))
            return (address, null);
        var segments = address.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
            return (address, null);
        var queue = QueueParameter(address.Query) ?? Uri.UnescapeDataString(segments[^1]);
        var path = "/" + string.Join('/', segments[..^1].Append(DefaultExchangeRoute));
        return (new UriBuilder(address) { Path = path, Query = "" }.Uri, queue);
    });

    static string? QueueParameter(string query) =>
        query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2 && p[0].Equals("queue", StringComparison.OrdinalIgnoreCase))
            .Select(p => Uri.UnescapeDataString(p[1]))
            .FirstOrDefault();

    public Uri DeliveryAddress(Uri watcherAddress) => Route(watcherAddress).Address;

    public void Prepare(SendContext context, Uri watcherAddress)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context is not RabbitMqSendContext rabbit && !context.TryGetPayload(out rabbit!))
            return;
        rabbit.Mandatory = true;
        rabbit.AwaitAck = true;
        if (Route(watcherAddress).Queue is { } queue)
            rabbit.RoutingKey = queue;
    }

    public bool IsUnreachable(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case MessageReturnedException:
                case global::RabbitMQ.Client.Exceptions.PublishException { IsReturn: true }:
                case OperationInterruptedException { ShutdownReason.ReplyCode: 404 }:
                    return true;
                case AggregateException aggregate when aggregate.InnerExceptions.Any(IsUnreachable):
                    return true;
            }
        }
        return false;
    }
}
