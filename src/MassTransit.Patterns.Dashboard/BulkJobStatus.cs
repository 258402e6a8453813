namespace MassTransit.Patterns.Dashboard;

/// <summary>A bulk job's progress: <c>GET {prefix}/api/bulk/{jobId}</c>.</summary>
sealed record BulkJobStatus
{
    public Guid JobId { get; init; }

    /// <summary>retry or discard.</summary>
    public string Action { get; init; } = "";

    /// <summary>Running, Completed, Cancelled or Failed.</summary>
    public string State { get; init; } = "";

    public string Actor { get; init; } = "";

    public int Total { get; init; }

    /// <summary>True when the group matched more than MaxBulkSize messages: the job covers the oldest MaxBulkSize of them.</summary>
    public bool Truncated { get; init; }

    public int Done { get; init; }

    public int Succeeded { get; init; }

    public int RefusedCount { get; init; }

    /// <summary>The refused messages with reasons (the first 1000).</summary>
    public IReadOnlyList<BulkRefusal> Refused { get; init; } = [];

    public double RatePerSecond { get; init; }

    public DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public string? Error { get; init; }
}
