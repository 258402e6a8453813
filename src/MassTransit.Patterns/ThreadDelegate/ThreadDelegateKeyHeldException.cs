namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>
/// The message's key is held because an earlier message of the key finally failed
/// (<see cref="FailedKeyBehavior.Hold"/>): the message is not consumed but faults to the error queue,
/// after the failed one, so the key's order is kept there until the key is released.
/// </summary>
public sealed class ThreadDelegateKeyHeldException : MassTransitException
{
    /// <summary>Creates the exception for <paramref name="key"/>.</summary>
    public ThreadDelegateKeyHeldException(string key, Guid? failedMessageId, Guid? messageId)
        : base($"Key '{key}' is held since message {failedMessageId} failed: message {messageId} is not consumed and is moved to the error queue after it, in order. Release the key once the failed message is resolved.")
    {
        Key = key;
        FailedMessageId = failedMessageId;
        MessageId = messageId;
    }

    /// <summary>The held key.</summary>
    public string Key { get; }

    /// <summary>The message whose failure holds the key.</summary>
    public Guid? FailedMessageId { get; }

    /// <summary>The message that was not consumed.</summary>
    public Guid? MessageId { get; }
}
