using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>What happens to a message whose key selector returns null or an empty string.</summary>
public enum MissingKeyBehavior
{
    /// <summary>The message faults with <see cref="ThreadDelegateKeyMissingException"/> and is moved to the error queue (kept, not lost). The default.</summary>
    Fault,

    /// <summary>The message runs under <see cref="ThreadDelegateOptions.DefaultKey"/>: messages without a key are ordered among themselves.</summary>
    DefaultLane
}
