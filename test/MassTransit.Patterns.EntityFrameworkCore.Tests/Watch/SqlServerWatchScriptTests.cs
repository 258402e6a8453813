using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Watch;

/// <summary>No SQL Server runs here: the watch tables are checked in the DDL the provider generates.</summary>
public sealed class SqlServerWatchScriptTests
{
    [Fact]
    public void The_script_creates_the_value_watcher_and_key_tables_with_their_keys_and_indexes()
    {
        using var db = new WatchDb(new DbContextOptionsBuilder<WatchDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);

        var script = db.Database.GenerateCreateScript();

        Assert.True(script.Contains("CREATE TABLE [WatchValue]"), script);
        Assert.Contains("[Source] nvarchar(128) NOT NULL", script);
        Assert.Contains("[Key] nvarchar(256) NOT NULL", script);
        Assert.Contains("[Version] bigint NOT NULL", script);
        Assert.Contains("CONSTRAINT [PK_WatchValue] PRIMARY KEY ([Source], [Key])", script);
        Assert.Contains("CREATE TABLE [Watcher]", script);
        Assert.Contains("[Address] nvarchar(1024) NOT NULL", script);
        Assert.Contains("CONSTRAINT [PK_Watcher] PRIMARY KEY ([Source], [WatcherId])", script);
        Assert.Contains("CREATE INDEX [IX_Watcher_Source_ExpiresAt] ON [Watcher] ([Source], [ExpiresAt])", script);
        Assert.Contains("CREATE TABLE [WatchedKey]", script);
        Assert.Contains("CONSTRAINT [PK_WatchedKey] PRIMARY KEY ([Source], [Pattern], [IsPrefix], [WatcherId])", script);
        Assert.Contains("CREATE INDEX [IX_WatchedKey_Source_WatcherId] ON [WatchedKey] ([Source], [WatcherId])", script);
    }
}
