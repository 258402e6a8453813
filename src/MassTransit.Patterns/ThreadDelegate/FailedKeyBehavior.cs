using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>What happens to a key whose message finally failed (after the retries configured inside the lane).</summary>
public enum FailedKeyBehavior
{
    /// <summary>The failed message faults to the error queue; the key's next messages go on. The default.</summary>
    Release,

    /// <summary>
    /// The failed message faults to the error queue and the key is held: its later messages are not
    /// consumed but fault too, in order, with <see cref="ThreadDelegateKeyHeldException"/>, until the key
    /// is released (<see cref="ThreadDelegateControl.Release(string)"/>) or <see cref="ThreadDelegateOptions.HoldTimeout"/> passes.
    /// Other keys are not affected.
    /// </summary>
    Hold
}
