using MassTransit.Patterns.EntityFrameworkCore.Watch;
using Microsoft.EntityFrameworkCore;

namespace MassTransit;

/// <summary>Maps the watch store's tables into the application's DbContext (and so into its migrations).</summary>
public static class WatchModelBuilderExtensions
{
    /// <summary>The default table of <see cref="WatchValueRow"/>.</summary>
    public const string ValueTable = "WatchValue";

    /// <summary>The default table of <see cref="WatcherRow"/>.</summary>
    public const string WatcherTable = "Watcher";

    /// <summary>The default table of <see cref="WatchedKeyRow"/>.</summary>
    public const string KeyTable = "WatchedKey";

    /// <summary>
    /// Maps <see cref="WatchValueRow"/>, <see cref="WatcherRow"/> and <see cref="WatchedKeyRow"/>. Call it from
    /// <c>OnModelCreating</c> of the DbContext given to <c>AddEntityFrameworkWatchStore&lt;TDbContext&gt;()</c>.
    /// </summary>
    /// <param name="modelBuilder">The model builder of the application's DbContext.</param>
    /// <param name="schema">The schema of the three tables; null for the default one.</param>
    public static ModelBuilder AddWatchEntities(this ModelBuilder modelBuilder, string? schema = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        var value = modelBuilder.Entity<WatchValueRow>();
        value.ToTable(ValueTable, schema);
        value.HasKey(x => new { x.Source, x.Key });
        value.Property(x => x.Source).HasMaxLength(128);
        value.Property(x => x.Key).HasMaxLength(256);

        var watcher = modelBuilder.Entity<WatcherRow>();
        watcher.ToTable(WatcherTable, schema);
        watcher.HasKey(x => new { x.Source, x.WatcherId });
        watcher.Property(x => x.Source).HasMaxLength(128);
        watcher.Property(x => x.Address).HasMaxLength(1024);
        watcher.HasIndex(x => new { x.Source, x.ExpiresAt });

        var key = modelBuilder.Entity<WatchedKeyRow>();
        key.ToTable(KeyTable, schema);
        key.HasKey(x => new { x.Source, x.Pattern, x.IsPrefix, x.WatcherId });
        key.Property(x => x.Source).HasMaxLength(128);
        key.Property(x => x.Pattern).HasMaxLength(256);
        key.HasIndex(x => new { x.Source, x.WatcherId });
        return modelBuilder;
    }
}
