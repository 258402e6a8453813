using MassTransit.Patterns.EventForwarding;
using MassTransit.RabbitMqTransport;
using MassTransit.RabbitMqTransport.Configuration;

namespace MassTransit.Patterns.RabbitMQ.EventForwarding;

/// <summary>
/// Sees every receive endpoint as it is configured (an endpoint configuration observer): makes its
/// queue a quorum queue when asked, and keeps it so that the start-up check can read the final
/// settings of each queue.
/// </summary>
sealed class RabbitMqEndpointChecks(RabbitMqEventForwardingOptions options) : IEndpointConfigurationObserver
{
    readonly List<IRabbitMqReceiveEndpointConfiguration> _endpoints = [];

    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator
    {
        if (configurator is not IRabbitMqReceiveEndpointConfiguration endpoint)
            return;
        lock (_endpoints)
            _endpoints.Add(endpoint);

        var settings = endpoint.Settings;
        if (options.QuorumQueues && !endpoint.IsBusEndpoint && settings is { Durable: true, AutoDelete: false } && configurator is IRabbitMqReceiveEndpointConfigurator rabbit)
            rabbit.SetQuorumQueue(options.QuorumReplicationFactor);
    }

    /// <summary>The settings of the endpoints configured so far that lose messages or acknowledge before the consumer ran.</summary>
    public IEnumerable<EventForwardingViolation> Check(EventForwardingCheckContext _)
    {
        IRabbitMqReceiveEndpointConfiguration[] endpoints;
        lock (_endpoints)
            endpoints = _endpoints.ToArray();

        foreach (var endpoint in endpoints)
        {
            // The bus's own temporary queue only carries responses to this instance's requests.
            if (endpoint.IsBusEndpoint)
                continue;
            foreach (var violation in Check(endpoint.Settings))
                yield return violation;
        }
    }

    internal static IEnumerable<EventForwardingViolation> Check(ReceiveSettings settings)
    {
        var name = $"endpoint {settings.QueueName}";
        if (!settings.Durable)
            yield return new($"{name}: Durable = false", "the queue and the messages in it are gone when the broker restarts.");
        if (settings.AutoDelete)
            yield return new($"{name}: AutoDelete = true", "the queue and the messages in it are deleted when its last consumer disconnects.");
        if (settings.Exclusive)
            yield return new($"{name}: Exclusive = true", "the queue belongs to one connection and is deleted with it.");
        if (settings.NoAck)
            yield return new($"{name}: NoAck = true", "messages are acknowledged on delivery, before the consumer ran: a crash loses them.");
        if (settings.PurgeOnStartup)
            yield return new($"{name}: PurgeOnStartup = true", "messages waiting in the queue are deleted every time the endpoint starts.");
        if (settings.QueueExpiration is { } expires)
            yield return new($"{name}: QueueExpiration = {expires}", "the broker deletes the queue, with its messages, once it has been unused that long.");

        var arguments = settings.QueueArguments ?? new Dictionary<string, object>();
        if (arguments.ContainsKey("x-expires"))
            yield return new($"{name}: x-expires", "the broker deletes the queue, with its messages, once it has been unused that long.");
        if (arguments.ContainsKey("x-max-length") || arguments.ContainsKey("x-max-length-bytes"))
        {
            var overflow = arguments.TryGetValue("x-overflow", out var value) ? value?.ToString() : null;
            if (overflow is null or "drop-head")
                yield return new($"{name}: x-max-length", "a full queue drops its oldest messages (x-overflow drop-head); use x-overflow reject-publish so that senders see a nack and resend.");
        }
        if (arguments.TryGetValue("x-queue-type", out var type) && type?.ToString() == "quorum"
            && arguments.TryGetValue("x-quorum-initial-group-size", out var size) && Convert.ToInt32(size, System.Globalization.CultureInfo.InvariantCulture) < 3)
            yield return new($"{name}: x-quorum-initial-group-size = {size}",
                "a quorum queue works while a majority of its replicas is up: with fewer than 3 the loss of one node stops the queue (with 1, the queue lives on one node alone).",
                EventForwardingViolationSeverity.Warning);
        if (arguments.ContainsKey("x-message-ttl"))
            yield return new($"{name}: x-message-ttl", "messages not consumed in time expire (dead-lettered when the queue has a dead-letter exchange, dropped otherwise).",
                EventForwardingViolationSeverity.Warning);
    }
}
