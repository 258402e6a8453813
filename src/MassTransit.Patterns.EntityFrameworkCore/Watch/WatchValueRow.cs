namespace MassTransit.Patterns.EntityFrameworkCore.Watch;

/// <summary>The current value of one key of one watch source, with its version (one more with every change).</summary>
public sealed class WatchValueRow
{
    /// <summary>The watch source's name.</summary>
    public string Source { get; set; } = "";

    /// <summary>The key.</summary>
    public string Key { get; set; } = "";

    /// <summary>The key's version: incremented in the database by every change, so it survives restarts and is shared by every source instance.</summary>
    public long Version { get; set; }

    /// <summary>The value, serialized as JSON.</summary>
    public string Value { get; set; } = "";

    /// <summary>When this version was stored (UTC).</summary>
    public DateTime ChangedAt { get; set; }
}
