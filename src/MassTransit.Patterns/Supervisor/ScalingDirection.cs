namespace MassTransit.Patterns.Supervisor;

/// <summary>What a decision did.</summary>
public enum ScalingDirection
{
    /// <summary>The level stayed.</summary>
    Hold,

    /// <summary>The level rose.</summary>
    Up,

    /// <summary>The level fell.</summary>
    Down
}
