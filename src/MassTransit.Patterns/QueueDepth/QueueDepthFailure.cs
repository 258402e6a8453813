namespace MassTransit.Patterns.QueueDepth;

/// <summary>Why a probe could not read a depth.</summary>
public enum QueueDepthFailure
{
    /// <summary>The broker or its API could not be reached, or refused the probe's credentials.</summary>
    Unreachable,

    /// <summary>The queue does not exist.</summary>
    QueueNotFound,

    /// <summary>The probe did not answer within its timeout.</summary>
    Timeout,

    /// <summary>The probe cannot measure what was asked of it.</summary>
    Unsupported,

    /// <summary>The broker answered with something the probe could not read.</summary>
    InvalidResponse
}
