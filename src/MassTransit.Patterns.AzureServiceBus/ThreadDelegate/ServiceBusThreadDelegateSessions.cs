using Azure.Messaging.ServiceBus;
using Azure.Messaging.ServiceBus.Administration;
using MassTransit.Patterns.ThreadDelegate;

namespace MassTransit.Patterns.AzureServiceBus.ThreadDelegate;

/// <summary>
/// Per-key order across service instances on Azure Service Bus: sessions. A session-enabled queue
/// delivers the messages of one session id in order to one receiver at a time, and a receiver works
/// on several sessions at once, so the key becomes the session id and the broker does what the thread
/// delegate's lanes do, across every instance. With MassTransit's Azure Service Bus transport:
/// <code>
/// // consumer: cfg.ReceiveEndpoint("accounts", e => { e.RequiresSession = true; e.MaxConcurrentSessions = 16; e.ConfigureConsumer&lt;C&gt;(context); });
/// // producer: cfg.Send&lt;Deposit&gt;(s => s.UseSessionIdFormatter(c => ServiceBusThreadDelegateSessions.SessionIdFor(c.Message.AccountId)));
/// </code>
/// The thread delegate filter is then not needed on that endpoint (its order would add nothing).
/// Order still breaks with delayed redelivery or a scheduled retry (the message goes back to the end
/// of its session), and a session lock lost mid-message lets its next message go to another receiver
/// after the lock expires.
/// </summary>
public static class ServiceBusThreadDelegateSessions
{
    /// <summary>The longest session id Service Bus accepts.</summary>
    public const int MaxSessionIdLength = 128;

    /// <summary>
    /// The session id for <paramref name="key"/>: the key itself when it fits, otherwise a stable
    /// hash of it (the same in every process). A null or empty key throws: a message without a key
    /// has no session, so it must be rejected, not sent unordered.
    /// </summary>
    public static string SessionIdFor(string? key)
    {
        if (string.IsNullOrEmpty(key))
            throw new ArgumentException("A keyed message needs a key to become its session id.", nameof(key));
        if (key.Length <= MaxSessionIdLength)
            return key;
        var hash = ThreadDelegateHash.Of(key);
        var reversed = ThreadDelegateHash.Of(new string(key.Reverse().ToArray()));
        return $"key-hash:{hash:x8}{reversed:x8}:{key[..Math.Min(key.Length, MaxSessionIdLength - 27)]}";
    }

    /// <summary>Queue options for an ordered queue: sessions required (they cannot be turned on later).</summary>
    public static CreateQueueOptions CreateOrderedQueueOptions(string queue, TimeSpan? lockDuration = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        var options = new CreateQueueOptions(queue) { RequiresSession = true };
        if (lockDuration is { } duration)
            options.LockDuration = duration;
        return options;
    }
}
