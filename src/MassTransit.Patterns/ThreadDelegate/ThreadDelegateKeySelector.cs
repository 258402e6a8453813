using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>A message type ordered by the thread delegate, and how its key is read.</summary>
internal abstract class ThreadDelegateKeySelector
{
    private protected ThreadDelegateKeySelector(Type messageType) => MessageType = messageType;

    /// <summary>The message type.</summary>
    public Type MessageType { get; }

    /// <summary>
    /// Reads the key when <paramref name="context"/> holds a message of <see cref="MessageType"/>:
    /// returns false when it does not; <paramref name="key"/> is null when the selector gave none.
    /// </summary>
    internal abstract bool TryGetKey(ConsumeContext context, out string? key);
}
