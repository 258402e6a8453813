using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;

/// <summary>
/// What the insert of a new instance runs before its INSERT, on the providers with no server here
/// (SQL Server, checked offline), and the advisory lock key PostgreSQL waits on.
/// </summary>
public sealed class NewRowInsertScriptTests
{
    sealed class SqlServerRaceDb(DbContextOptions<SqlServerRaceDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) =>
            modelBuilder.AddSagaInstance<RaceState>(b => b.Property(x => x.CurrentState).HasMaxLength(64), tableName: "Races").ToTable("Races", "sagas");
    }

    static readonly SagaRowAccess<RaceState> Rows = new(new EntityFrameworkSagaRepositoryOptions());

    [Fact]
    public void On_SQL_Server_the_look_up_takes_the_key_range_lock_concurrent_inserts_wait_on()
    {
        using var db = new SqlServerRaceDb(new DbContextOptionsBuilder<SqlServerRaceDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True").Options);

        var sql = Rows.NewRowLookup(db, Guid.Empty).ToQueryString();

        Assert.Contains("SELECT * FROM [sagas].[Races] WITH (UPDLOCK, HOLDLOCK) WHERE [CorrelationId] = @p0", sql);
    }

    [Fact]
    public void On_PostgreSQL_the_lock_key_is_a_function_of_the_table_and_the_id()
    {
        using var db = new RaceDb(new DbContextOptionsBuilder<RaceDb>().UseNpgsql("Host=127.0.0.1;Port=1;Database=never_connected").Options);
        var id = Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff");

        var key = SagaRowAccess<RaceState>.NewRowLockKey(db, id);

        Assert.Equal(key, SagaRowAccess<RaceState>.NewRowLockKey(db, id));
        Assert.NotEqual(key, SagaRowAccess<RaceState>.NewRowLockKey(db, NewId.NextGuid()));
        Assert.NotEqual(key, SagaRowAccess<TallyState>.NewRowLockKey(new TallyDb(new DbContextOptionsBuilder<TallyDb>()
            .UseNpgsql("Host=127.0.0.1;Port=1;Database=never_connected").Options), id));
    }
}
