namespace MassTransit.Patterns.QueueDepth;

/// <summary>A queue depth could not be read. Never a depth of zero in disguise.</summary>
public sealed class QueueDepthProbeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public QueueDepthProbeException(string queue, string probe, QueueDepthFailure failure, string message, Exception? innerException = null)
        : base($"Queue depth of '{queue}' could not be read by the {probe} probe ({failure}): {message}", innerException)
    {
        Queue = queue;
        Probe = probe;
        Failure = failure;
    }

    /// <summary>The queue whose depth was asked.</summary>
    public string Queue { get; }

    /// <summary>The probe's name.</summary>
    public string Probe { get; }

    /// <summary>Why the reading failed.</summary>
    public QueueDepthFailure Failure { get; }
}
