using Azure;
using Azure.Messaging.ServiceBus;
using Azure.Messaging.ServiceBus.Administration;
using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.AzureServiceBus.QueueDepth;

/// <summary>
/// Reads an Azure Service Bus queue's active message count through the administration client.
/// Service Bus counts a locked (in-flight) message as active, so the reading is ready plus in
/// flight, reported as <see cref="QueueDepthSample.Ready"/> with unacknowledged unknown.
/// </summary>
public sealed class ServiceBusQueueDepthProbe : IQueueDepthProbe
{
    readonly ServiceBusAdministrationClient _client;
    readonly TimeProvider _time;

    /// <summary>Creates the probe over an administration client (its credentials come from configuration).</summary>
    public ServiceBusQueueDepthProbe(ServiceBusAdministrationClient client, TimeProvider? time = null)
    {
        _client = client;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public string Name => "azure-service-bus";

    /// <inheritdoc />
    public bool KnowsUnacknowledged => false;

    /// <inheritdoc />
    public async Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        try
        {
            var response = await _client.GetQueueRuntimePropertiesAsync(queue, cancellationToken).ConfigureAwait(false);
            var properties = response.Value;
            return new QueueDepthSample(queue, properties.ActiveMessageCount, null, null, _time.GetUtcNow());
        }
        catch (ServiceBusException exception) when (exception.Reason == ServiceBusFailureReason.MessagingEntityNotFound)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.QueueNotFound, "the namespace has no such queue.", exception);
        }
        catch (RequestFailedException exception) when (exception.Status == 404)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.QueueNotFound, "the namespace has no such queue.", exception);
        }
        catch (ServiceBusException exception) when (exception.Reason == ServiceBusFailureReason.ServiceTimeout)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Timeout, exception.Message, exception);
        }
        catch (Exception exception) when (exception is ServiceBusException or RequestFailedException or UnauthorizedAccessException or HttpRequestException)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, exception.Message, exception);
        }
    }
}
