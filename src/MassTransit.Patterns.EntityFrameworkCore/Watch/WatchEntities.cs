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

/// <summary>A registered watcher: where its notifications go and when its lease ends.</summary>
public sealed class WatcherRow
{
    /// <summary>The watch source's name.</summary>
    public string Source { get; set; } = "";

    /// <summary>The watcher's id.</summary>
    public Guid WatcherId { get; set; }

    /// <summary>The watcher's instance endpoint address.</summary>
    public string Address { get; set; } = "";

    /// <summary>When the registration ends unless renewed (UTC).</summary>
    public DateTime ExpiresAt { get; set; }
}

/// <summary>One key or prefix a watcher watches: the registry's index from a changed key to its watchers.</summary>
public sealed class WatchedKeyRow
{
    /// <summary>The watch source's name.</summary>
    public string Source { get; set; } = "";

    /// <summary>The key, or the prefix when <see cref="IsPrefix"/>.</summary>
    public string Pattern { get; set; } = "";

    /// <summary>True for a prefix (every key starting with <see cref="Pattern"/>).</summary>
    public bool IsPrefix { get; set; }

    /// <summary>The watcher.</summary>
    public Guid WatcherId { get; set; }
}
