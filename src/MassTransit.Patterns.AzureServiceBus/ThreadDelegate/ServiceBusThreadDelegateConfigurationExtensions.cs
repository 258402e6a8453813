using Azure.Messaging.ServiceBus;
using MassTransit.Patterns.AzureServiceBus.ThreadDelegate;

namespace MassTransit;

/// <summary>The thread delegate's per-key order on Azure Service Bus: the key becomes the message's session id.</summary>
public static class ServiceBusThreadDelegateConfigurationExtensions
{
    /// <summary>Sets the message's session id from <paramref name="key"/> (see <see cref="ServiceBusThreadDelegateSessions.SessionIdFor"/>).</summary>
    public static ServiceBusMessage WithOrderingKey(this ServiceBusMessage message, string? key)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.SessionId = ServiceBusThreadDelegateSessions.SessionIdFor(key);
        return message;
    }
}
