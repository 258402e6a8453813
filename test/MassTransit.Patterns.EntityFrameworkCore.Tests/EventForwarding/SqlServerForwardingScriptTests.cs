using System.Data.Common;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>
/// No SQL Server runs here: the inbox and outbox tables are checked in the DDL the provider
/// generates, and the statements of the delivery and clean-up services in the SQL it would send
/// (captured by an interceptor that never opens the connection).
/// </summary>
public sealed class SqlServerForwardingScriptTests
{
    /// <summary>Records every command instead of running it; the connection is never opened.</summary>
    sealed class CaptureSql : DbCommandInterceptor, IDbConnectionInterceptor
    {
        public List<string> Statements { get; } = [];

        public List<int> ParameterCounts { get; } = [];

        public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<int> result,
            CancellationToken cancellationToken = default)
        {
            Statements.Add(command.CommandText);
            ParameterCounts.Add(command.Parameters.Count);
            return ValueTask.FromResult(InterceptionResult<int>.SuppressWithResult(1));
        }

        public ValueTask<InterceptionResult> ConnectionOpeningAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result,
            CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(InterceptionResult.Suppress());

        public InterceptionResult ConnectionOpening(DbConnection connection, ConnectionEventData eventData, InterceptionResult result) =>
            InterceptionResult.Suppress();
    }

    static ForwardingDb Create(CaptureSql? capture = null)
    {
        var builder = new DbContextOptionsBuilder<ForwardingDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True");
        if (capture is not null)
            builder.AddInterceptors(capture);
        return new ForwardingDb(builder.Options);
    }

    [Fact]
    public void The_script_creates_the_inbox_outbox_and_lease_tables_with_their_keys()
    {
        using var db = Create();

        var script = db.Database.GenerateCreateScript();

        Assert.True(script.Contains("CREATE TABLE [ForwardingInbox]"), script);
        Assert.Contains("CONSTRAINT [PK_ForwardingInbox] PRIMARY KEY ([MessageId], [ConsumerId])", script);
        Assert.Contains("CREATE INDEX [IX_ForwardingInbox_Consumed] ON [ForwardingInbox] ([Consumed])", script);
        Assert.Contains("CREATE TABLE [ForwardingOutbox]", script);
        Assert.Contains("[SequenceNumber] bigint NOT NULL IDENTITY", script);
        Assert.Contains("CONSTRAINT [PK_ForwardingOutbox] PRIMARY KEY ([SequenceNumber])", script);
        Assert.Contains("CREATE INDEX [IX_ForwardingOutbox_OutboxId_Position] ON [ForwardingOutbox] ([OutboxId], [Position])", script);
        Assert.Contains("[DestinationAddress] nvarchar(1024) NULL", script);
        Assert.Contains("[Body] nvarchar(max) NOT NULL", script);
        Assert.Contains("[SentTime] datetime2 NOT NULL", script);
        Assert.Contains("CREATE TABLE [ForwardingOutboxLease]", script);
        Assert.Contains("CONSTRAINT [PK_ForwardingOutboxLease] PRIMARY KEY ([Name])", script);
    }

    sealed class RenamedInboxDb(DbContextOptions<RenamedInboxDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) =>
            modelBuilder.AddEventForwardingEntities(schema: "messaging", inbox: e => e.ToTable("Inbox", "messaging"));
    }

    [Fact]
    public void The_inbox_claim_is_one_guarded_insert_into_the_mapped_table_quoted_for_SQL_Server()
    {
        using var db = Create();
        var claim = InboxInsert.For(db);
        Assert.True(claim.SkipsDuplicate);
        Assert.Equal("INSERT INTO [ForwardingInbox] ([MessageId], [ConsumerId], [Consumed]) SELECT {0}, {1}, {2} WHERE NOT EXISTS " +
            "(SELECT 1 FROM [ForwardingInbox] WITH (UPDLOCK, HOLDLOCK) WHERE [MessageId] = {0} AND [ConsumerId] = {1})", claim.Sql);

        using var renamed = new RenamedInboxDb(new DbContextOptionsBuilder<RenamedInboxDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);
        Assert.Equal("INSERT INTO [messaging].[Inbox] ([MessageId], [ConsumerId], [Consumed]) SELECT {0}, {1}, {2} WHERE NOT EXISTS " +
            "(SELECT 1 FROM [messaging].[Inbox] WITH (UPDLOCK, HOLDLOCK) WHERE [MessageId] = {0} AND [ConsumerId] = {1})", InboxInsert.For(renamed).Sql);
    }

    [Fact]
    public async Task The_guarded_claim_is_sent_as_one_command_with_its_three_parameters_reused()
    {
        var capture = new CaptureSql();
        await using var db = Create(capture);

        await db.Database.ExecuteSqlRawAsync(InboxInsert.For(db).Sql, [Guid.NewGuid(), Guid.NewGuid(), DateTime.UtcNow]);

        var sent = Assert.Single(capture.Statements);
        Assert.Equal("INSERT INTO [ForwardingInbox] ([MessageId], [ConsumerId], [Consumed]) SELECT @p0, @p1, @p2 WHERE NOT EXISTS " +
            "(SELECT 1 FROM [ForwardingInbox] WITH (UPDLOCK, HOLDLOCK) WHERE [MessageId] = @p0 AND [ConsumerId] = @p1)", sent);
    }

    [Fact]
    public void The_delivery_queries_translate_for_SQL_Server()
    {
        using var db = Create();

        var groups = ForwardingQueries.PendingGroups(db, 100).ToQueryString();
        var rows = ForwardingQueries.GroupRows(db, [Guid.NewGuid()], 1000).ToQueryString();

        Assert.Contains("GROUP BY [f].[OutboxId]", groups);
        Assert.Contains("MIN([f].[SequenceNumber])", groups);
        Assert.Contains("TOP(@", groups);
        Assert.Contains("ORDER BY [f].[Position], [f].[SequenceNumber]", rows);
    }

    [Fact]
    public async Task The_lease_is_taken_with_one_conditional_update_and_old_inbox_rows_deleted_in_batches()
    {
        var capture = new CaptureSql();
        await using var db = Create(capture);

        await ForwardingQueries.TakeLease(db, Guid.NewGuid(), DateTime.UtcNow, DateTime.UtcNow.AddSeconds(30), CancellationToken.None);
        await ForwardingQueries.RemoveExpiredInbox(db, DateTime.UtcNow.AddDays(-1), 500, CancellationToken.None);
        await ForwardingQueries.DeleteDelivered(db, [1, 2, 3], CancellationToken.None);

        Assert.Equal(3, capture.Statements.Count);
        var lease = capture.Statements[0];
        Assert.Contains("UPDATE [f]", lease);
        Assert.Contains("FROM [ForwardingOutboxLease] AS [f]", lease);
        Assert.Contains("[f].[Owner] = @", lease);
        Assert.Contains("[f].[ExpiresAt] < @", lease);
        var cleanup = capture.Statements[1];
        Assert.Contains("DELETE FROM [f]", cleanup);
        Assert.Contains("TOP(@", cleanup);
        Assert.Contains("[Consumed] < @", cleanup);
        Assert.Contains("DELETE FROM [f]", capture.Statements[2]);
        Assert.Contains("[SequenceNumber] IN", capture.Statements[2]);
    }

    [Fact]
    public async Task Delivered_rows_are_deleted_in_statements_of_at_most_2000_parameters_under_the_limit_of_2100()
    {
        var capture = new CaptureSql();
        await using var db = Create(capture);

        await ForwardingQueries.DeleteDelivered(db, Enumerable.Range(1, 4500).Select(i => (long)i).ToList(), CancellationToken.None);

        Assert.Equal(3, capture.Statements.Count);
        Assert.All(capture.Statements, s => Assert.Contains("DELETE FROM [f]", s));
        Assert.All(capture.Statements, s => Assert.Contains("[SequenceNumber] IN", s));
        Assert.All(capture.ParameterCounts, count => Assert.InRange(count, 1, 2000));
        Assert.True(capture.ParameterCounts.Sum() >= 4500, string.Join(", ", capture.ParameterCounts));
    }

    [Fact]
    public async Task A_round_of_fewer_than_2000_confirms_is_deleted_in_one_statement()
    {
        var capture = new CaptureSql();
        await using var db = Create(capture);

        await ForwardingQueries.DeleteDelivered(db, Enumerable.Range(1, 2000).Select(i => (long)i).ToList(), CancellationToken.None);

        var sent = Assert.Single(capture.Statements);
        Assert.Contains("[SequenceNumber] IN", sent);
        Assert.Equal(2000, Assert.Single(capture.ParameterCounts));
    }
}
