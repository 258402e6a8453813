namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// A message ordered by the thread delegate had no key (its selector returned null or an empty
/// string) and <see cref="ThreadDelegateOptions.MissingKey"/> is <see cref="MissingKeyBehavior.Fault"/>:
/// the message faults and is moved to the error queue; the endpoint goes on.
/// </summary>
public sealed class ThreadDelegateKeyMissingException : MassTransitException
{
    /// <summary>Creates the exception for a message of <paramref name="messageType"/>.</summary>
    public ThreadDelegateKeyMissingException(Type messageType, Guid? messageId)
        : base($"The thread delegate's key selector for {messageType.Name} returned no key for message {messageId}: the message is moved to the error queue (set MissingKey = DefaultLane to run such messages under a default key).")
    {
        MessageType = messageType;
        MessageId = messageId;
    }

    /// <summary>The message type whose selector gave no key.</summary>
    public Type MessageType { get; }

    /// <summary>The message's id.</summary>
    public Guid? MessageId { get; }
}
