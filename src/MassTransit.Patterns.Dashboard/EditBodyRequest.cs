namespace MassTransit.Patterns.Dashboard;

/// <summary>An edit of a message's body: <c>POST {prefix}/api/messages/{id}/edit</c>.</summary>
sealed record EditBodyRequest
{
    /// <summary>The new body, whole (for a MassTransit envelope, the envelope; redacted header values may be left as shown).</summary>
    public string? Body { get; init; }

    /// <summary>A new content type, or null to keep the stored one.</summary>
    public string? ContentType { get; init; }

    /// <summary>The version the edit was made on (from the message's <c>version</c>); required: an edit made on an older one is refused (409).</summary>
    public int? ExpectedVersion { get; init; }

    public string? Comment { get; init; }
}
