using System.Data;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;

/// <summary>The isolation level of the repository's transaction: which levels each mode takes, and what each provider begins.</summary>
public sealed class SagaTransactionOptionsTests
{
    [Theory]
    [InlineData(IsolationLevel.ReadUncommitted)]
    [InlineData(IsolationLevel.RepeatableRead)]
    [InlineData(IsolationLevel.Serializable)]
    [InlineData(IsolationLevel.Snapshot)]
    public void Optimistic_concurrency_takes_read_committed_only(IsolationLevel level)
    {
        var options = new EntityFrameworkSagaRepositoryOptions { IsolationLevel = level };

        var failure = Assert.Throws<PatternOptionsException>(() => options.EnsureValid());

        var option = Assert.Single(failure.Failures);
        Assert.Equal("EntityFrameworkSagaRepositoryOptions.IsolationLevel", option.Option);
        Assert.Contains($"must be ReadCommitted with optimistic concurrency (was {level})", failure.Message);
    }

    [Theory]
    [InlineData(IsolationLevel.ReadCommitted)]
    [InlineData(IsolationLevel.RepeatableRead)]
    [InlineData(IsolationLevel.Serializable)]
    public void Pessimistic_concurrency_takes_any_level_the_database_honours(IsolationLevel level)
    {
        new EntityFrameworkSagaRepositoryOptions { ConcurrencyMode = SagaConcurrencyMode.Pessimistic, IsolationLevel = level }.EnsureValid();
    }

    [Theory]
    [InlineData(IsolationLevel.Unspecified)]
    [InlineData(IsolationLevel.Chaos)]
    [InlineData((IsolationLevel)12345)]
    public void A_level_no_database_honours_is_refused(IsolationLevel level)
    {
        var options = new EntityFrameworkSagaRepositoryOptions { ConcurrencyMode = SagaConcurrencyMode.Pessimistic, IsolationLevel = level };

        var failure = Assert.Throws<PatternOptionsException>(() => options.EnsureValid());

        Assert.Contains($"EntityFrameworkSagaRepositoryOptions.IsolationLevel must be a level the database can honour (was {level})", failure.Message);
    }

    [Fact]
    public void The_registration_refuses_an_invalid_level()
    {
        var services = new ServiceCollection();

        var failure = Assert.Throws<PatternOptionsException>(() => services.AddMassTransit(x =>
            x.AddSagaStateMachine<TallyStateMachine, TallyState>().PatternsEntityFrameworkRepository(r =>
            {
                r.ExistingDbContext<TallyDb>();
                r.IsolationLevel = IsolationLevel.Serializable;
            })));

        Assert.Contains("EntityFrameworkSagaRepositoryOptions.IsolationLevel must be ReadCommitted with optimistic concurrency (was Serializable)", failure.Message);
    }

    [Fact]
    public void SQL_Server_and_PostgreSQL_begin_the_configured_level()
    {
        var rows = new SagaRowAccess<TallyState>(new EntityFrameworkSagaRepositoryOptions
        { ConcurrencyMode = SagaConcurrencyMode.Pessimistic, IsolationLevel = IsolationLevel.Serializable });
        using var sqlServer = new TallyDb(new DbContextOptionsBuilder<TallyDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);
        using var postgres = new TallyDb(new DbContextOptionsBuilder<TallyDb>().UseNpgsql("Host=127.0.0.1;Port=1;Database=never_connected").Options);

        Assert.Equal(IsolationLevel.Serializable, rows.TransactionIsolationLevel(sqlServer));
        Assert.Equal(IsolationLevel.Serializable, rows.TransactionIsolationLevel(postgres));
        Assert.Equal(IsolationLevel.ReadCommitted, new SagaRowAccess<TallyState>(new EntityFrameworkSagaRepositoryOptions()).TransactionIsolationLevel(sqlServer));
    }

    [Theory]
    [InlineData(SagaConcurrencyMode.Optimistic, IsolationLevel.ReadCommitted)]
    [InlineData(SagaConcurrencyMode.Pessimistic, IsolationLevel.ReadUncommitted)]
    [InlineData(SagaConcurrencyMode.Pessimistic, IsolationLevel.Snapshot)]
    public async Task SQLite_begins_the_repository_transaction_IMMEDIATE_whatever_the_level(SagaConcurrencyMode mode, IsolationLevel level)
    {
        // Microsoft.Data.Sqlite begins IMMEDIATE (the write lock at once) only for a serializable transaction;
        // read uncommitted would begin a deferred one that locks nothing until it writes, and snapshot throws.
        var rows = new SagaRowAccess<TallyState>(new EntityFrameworkSagaRepositoryOptions { ConcurrencyMode = mode, IsolationLevel = level });
        var file = Path.Combine(Path.GetTempPath(), $"mtp-saga-tx-{Guid.NewGuid():N}.db");
        try
        {
            await using (var db = new TallyDb(new DbContextOptionsBuilder<TallyDb>().UseSqlite($"Data Source={file};Pooling=False").Options))
            await using (var other = new TallyDb(new DbContextOptionsBuilder<TallyDb>().UseSqlite($"Data Source={file};Pooling=False;Default Timeout=1").Options))
            {
                await db.Database.EnsureCreatedAsync();
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");

                await using var transaction = await db.Database.BeginTransactionAsync(rows.TransactionIsolationLevel(db));

                // The transaction has not read or written anything, yet another connection's write waits for it.
                var write = await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() =>
                    other.Database.ExecuteSqlRawAsync("""INSERT INTO "TallyState" ("CorrelationId", "CurrentState", "Name", "Opens", "Count", "Applied", "Version") VALUES ('00000000-0000-0000-0000-000000000001', '', '', 0, 0, '', 1)"""));
                Assert.Equal(5, write.SqliteErrorCode); // SQLITE_BUSY
                await transaction.RollbackAsync();
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var f in new[] { file, file + "-wal", file + "-shm" })
                File.Delete(f);
        }
    }
}
