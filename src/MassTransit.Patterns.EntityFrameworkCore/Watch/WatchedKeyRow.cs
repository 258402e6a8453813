namespace MassTransit.Patterns.EntityFrameworkCore.Watch;

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
