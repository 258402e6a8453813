namespace MassTransit.Patterns.EntityFrameworkCore.Watch;

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
