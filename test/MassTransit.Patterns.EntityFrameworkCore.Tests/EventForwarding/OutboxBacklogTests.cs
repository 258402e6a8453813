using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>The EF outbox's <see cref="IOutboxBacklog"/>: registered with the outbox, one statement, the rows waiting and the oldest one's time.</summary>
public sealed class OutboxBacklogTests
{
    static OutboxEntry Row(DateTime sent) => new()
    {
        OutboxId = Guid.NewGuid(),
        MessageId = Guid.NewGuid(),
        SentTime = sent,
        DestinationAddress = new Uri("queue:backlog-test"),
        ContentType = "application/json",
        MessageType = "urn:message:Test",
        Body = "{}"
    };

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task The_registered_backlog_reads_the_rows_waiting_and_the_oldest_ones_time_in_one_statement(Store store)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var counter = new DbRoundTripCounter();
        var services = new ServiceCollection();
        CapturedLogs.Use(services);
        var mark = CapturedLogs.Instance.Mark();
        services.AddDbContext<ForwardingDb>(o =>
        {
            database.Configure(o);
            o.AddInterceptors(counter);
        });
        services.AddMassTransit(x => x.AddPatternsEntityFrameworkOutbox<ForwardingDb>());
        await using var provider = services.BuildServiceProvider();

        var backlog = Assert.Single(provider.GetServices<IOutboxBacklog>());
        Assert.Equal(nameof(ForwardingDb), backlog.Name);

        var empty = await backlog.ReadAsync(ct);
        Assert.Equal(0, empty.Pending);
        Assert.Null(empty.OldestCreatedAt);
        Assert.Equal(TimeSpan.Zero, empty.OldestAge);

        // Written out of order: the oldest time is not the first row's.
        var t0 = new DateTime(2026, 12, 5, 10, 0, 0, 123, DateTimeKind.Utc);
        await using (var db = database.Open())
        {
            db.AddRange(Row(t0.AddSeconds(5)), Row(t0), Row(t0.AddSeconds(2)));
            await db.SaveChangesAsync(ct);
        }

        var before = counter.Commands;
        var reading = await backlog.ReadAsync(ct);
        Assert.Equal(1, counter.Commands - before);
        Assert.Equal(3, reading.Pending);
        Assert.Equal(new DateTimeOffset(t0), reading.OldestCreatedAt);
        Assert.Equal(reading.ReadAt - new DateTimeOffset(t0), reading.OldestAge);
        // Read every few seconds by the page and the health checks: no EF Core warning (e.g. 10103, First without OrderBy) each time.
        Assert.DoesNotContain(CapturedLogs.Instance.Since(mark), e => e.Category.StartsWith("Microsoft.EntityFrameworkCore", StringComparison.Ordinal)
            && e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task Two_outbox_contexts_register_one_backlog_each()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddDbContext<ForwardingDb>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddDbContext<OtherDb>(o => o.UseSqlite("Data Source=:memory:"));
        services.AddMassTransit(x =>
        {
            x.AddPatternsEntityFrameworkOutbox<ForwardingDb>();
            x.AddPatternsEntityFrameworkOutbox<OtherDb>();
            x.AddPatternsEntityFrameworkOutbox<ForwardingDb>();
            x.UsingInMemory();
        });
        await using var provider = services.BuildServiceProvider();

        Assert.Equal([nameof(ForwardingDb), nameof(OtherDb)], provider.GetServices<IOutboxBacklog>().Select(b => b.Name).Order());
        Assert.Equal([nameof(ForwardingDb), nameof(OtherDb)], provider.GetServices<IOutboxDelivery>().Select(b => b.Name).Order());
    }

    public sealed class OtherDb(DbContextOptions<OtherDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddEventForwardingEntities();
    }

    [Fact]
    public void On_SQL_Server_the_backlog_is_one_aggregate_over_the_outbox_table()
    {
        using var db = new ForwardingDb(new DbContextOptionsBuilder<ForwardingDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);

        var sql = ForwardingQueries.Backlog(db).ToQueryString();

        // One SELECT with both aggregates over the one table (the constant group is one group, none when the table is empty).
        Assert.Equal(1, sql.Split("SELECT COUNT_BIG(*), MIN([f0].[SentTime])").Length - 1);
        Assert.Contains("FROM [ForwardingOutbox] AS [f]", sql);
        Assert.Equal(2, sql.Split("SELECT").Length - 1);
        Assert.DoesNotContain("ORDER BY", sql);
    }
}
