namespace MassTransit.Patterns.Health;

/// <summary>The names of the patterns' health checks, one per condition (each also carries <see cref="PatternsHealthCheckOptions.Tags"/>).</summary>
public static class PatternsHealthCheckNames
{
    /// <summary>A watched queue's depth cannot be read (its latest readings failed) or its latest reading is stale.</summary>
    public const string QueueDepth = "patterns-queue-depth";

    /// <summary>A broker of the multibroker is out of rotation (ejected, disconnected, probing, starting), or every one is.</summary>
    public const string Multibroker = "patterns-multibroker";

    /// <summary>An outbox's backlog or the age of its oldest undelivered row is over a threshold, or its backlog cannot be read.</summary>
    public const string Outbox = "patterns-outbox";

    /// <summary>Workflow messages wait for a person: their number, or the oldest one's wait, is over a threshold.</summary>
    public const string Workflow = "patterns-workflow";

    /// <summary>A watcher cannot reach its watch source: its registrations or renewals fail or time out, or the source refused it.</summary>
    public const string Watch = "patterns-watch";
}
