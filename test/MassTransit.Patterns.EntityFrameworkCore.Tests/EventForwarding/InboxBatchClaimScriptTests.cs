using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>
/// The batched claim's statements as each provider gets them (SQL Server checked offline: no server runs
/// here; PostgreSQL and SQLite run them in <see cref="BatchingTests"/>).
/// </summary>
public sealed class InboxBatchClaimScriptTests
{
    sealed class RenamedInboxDb(DbContextOptions<RenamedInboxDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) =>
            modelBuilder.AddEventForwardingEntities(schema: "messaging", inbox: e => e.ToTable("Inbox", "messaging"));
    }

    [Fact]
    public void On_SQL_Server_the_claim_of_a_batch_is_one_guarded_insert_returning_the_keys_it_inserted()
    {
        using var db = new ForwardingDb(new DbContextOptionsBuilder<ForwardingDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);

        Assert.Equal("INSERT INTO [ForwardingInbox] ([MessageId], [ConsumerId], [Consumed]) " +
            "OUTPUT inserted.[MessageId] AS [MessageId], inserted.[ConsumerId] AS [ConsumerId] " +
            "SELECT v.m, v.c, {4} FROM (VALUES ({0}, {1}), ({2}, {3})) AS v(m, c) " +
            "WHERE NOT EXISTS (SELECT 1 FROM [ForwardingInbox] WITH (UPDLOCK, HOLDLOCK) WHERE [MessageId] = v.m AND [ConsumerId] = v.c)",
            InboxInsert.BatchClaimSql(db, 2));
        Assert.Equal("DELETE FROM [ForwardingInbox] WHERE [MessageId] = {0} AND [ConsumerId] = {1}", InboxInsert.DeleteSql(db));
        // 64 members (the largest batch): 129 parameters, far below SQL Server's 2,100.
        Assert.Contains("{128}", InboxInsert.BatchClaimSql(db, 64));
    }

    [Fact]
    public void On_PostgreSQL_the_claim_goes_to_the_mapped_table_and_skips_existing_keys()
    {
        using var db = new RenamedInboxDb(new DbContextOptionsBuilder<RenamedInboxDb>().UseNpgsql("Host=127.0.0.1;Port=1;Database=never_connected").Options);

        Assert.Equal("INSERT INTO messaging.\"Inbox\" (\"MessageId\", \"ConsumerId\", \"Consumed\") VALUES ({0}, {1}, {4}), ({2}, {3}, {4}) " +
            "ON CONFLICT DO NOTHING RETURNING \"MessageId\" AS \"MessageId\", \"ConsumerId\" AS \"ConsumerId\"", InboxInsert.BatchClaimSql(db, 2));
        Assert.Equal("DELETE FROM messaging.\"Inbox\" WHERE \"MessageId\" = {0} AND \"ConsumerId\" = {1}", InboxInsert.DeleteSql(db));
    }
}
