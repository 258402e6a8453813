namespace MassTransit.Patterns.QueueDepth;

/// <summary>
/// The outcome of one poll of a queue: a sample, or the failure that prevented it. Consumers of
/// readings hold their current decision on a failure rather than reading it as an empty queue.
/// </summary>
/// <param name="Queue">The queue polled.</param>
/// <param name="Sample">The depth read, or null when the probe failed.</param>
/// <param name="Failure">Why the probe failed, or null on success.</param>
/// <param name="ConsecutiveFailures">Failures in a row up to and including this one (0 on success).</param>
/// <param name="At">When the poll finished.</param>
public sealed record QueueDepthReading(string Queue, QueueDepthSample? Sample, QueueDepthProbeException? Failure, int ConsecutiveFailures, DateTimeOffset At)
{
    /// <summary>True when the reading holds a sample.</summary>
    public bool Succeeded => Sample.HasValue;
}
