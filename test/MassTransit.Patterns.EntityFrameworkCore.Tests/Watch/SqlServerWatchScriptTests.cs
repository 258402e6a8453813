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

/// <summary>The store's hot statements as SQL Server would receive them (captured, never run).</summary>
public sealed class SqlServerWatchStatementTests
{
    sealed class CaptureSql : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor, Microsoft.EntityFrameworkCore.Diagnostics.IDbConnectionInterceptor
    {
        public List<string> Statements { get; } = [];

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>> NonQueryExecutingAsync(System.Data.Common.DbCommand command,
            Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result,
            CancellationToken cancellationToken = default)
        {
            Statements.Add(command.CommandText);
            return ValueTask.FromResult(Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>.SuppressWithResult(1));
        }

        public ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult> ConnectionOpeningAsync(System.Data.Common.DbConnection connection,
            Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult result,
            CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult.Suppress());

        public Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult ConnectionOpening(System.Data.Common.DbConnection connection,
            Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult result) =>
            Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult.Suppress();
    }

    static WatchDb Create(CaptureSql? capture = null)
    {
        var builder = new DbContextOptionsBuilder<WatchDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True");
        if (capture is not null)
            builder.AddInterceptors(capture);
        return new WatchDb(builder.Options);
    }

    [Fact]
    public async Task A_change_increments_the_version_in_the_database_in_one_update()
    {
        var capture = new CaptureSql();
        await using var db = Create(capture);

        Assert.Equal(1, await EntityFrameworkCore.Watch.WatchQueries.IncrementVersion(db, "routes", "eu", "{}", DateTime.UtcNow, CancellationToken.None));

        var update = Assert.Single(capture.Statements);
        Assert.Contains("UPDATE [w]", update);
        Assert.Contains("[w].[Version] = [w].[Version] + CAST(1 AS bigint)", update);
        Assert.Contains("WHERE [w].[Source] = @", update);
    }

    [Fact]
    public void The_watchers_of_a_key_are_found_by_the_key_table_and_the_lease_in_one_query()
    {
        using var db = Create();

        var sql = EntityFrameworkCore.Watch.WatchQueries.WatchersOf(db, "routes", "eu/west", ["e", "eu", "eu/", "eu/w", "eu/we", "eu/wes", "eu/west"], DateTime.UtcNow)
            .ToQueryString();

        Assert.Contains("SELECT DISTINCT", sql);
        Assert.Contains("FROM [WatchedKey] AS [w]", sql);
        Assert.Contains("INNER JOIN [Watcher]", sql);
        Assert.Contains("WHERE [w].[Source] = @source AND [w].[Pattern] IN (@patterns1, ", sql);   // the key table's primary key: Source, Pattern
        Assert.Contains("[ExpiresAt] >= @", sql);
    }
}
