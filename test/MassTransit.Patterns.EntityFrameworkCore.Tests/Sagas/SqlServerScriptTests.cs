using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;

/// <summary>No SQL Server runs here: the provider is wired and what it would execute is checked offline.</summary>
public sealed class SqlServerScriptTests
{
    sealed class SqlServerTallyDb(DbContextOptions<SqlServerTallyDb> options, SagaConcurrencyToken token) : DbContext(options)
    {
        public SagaConcurrencyToken Token { get; } = token;

        protected override void OnModelCreating(ModelBuilder modelBuilder) =>
            modelBuilder.AddSagaInstance<TallyState>(b => b.Property(x => x.CurrentState).HasMaxLength(64), Token, tableName: "Tallies");
    }

    sealed class TokenAwareCacheKey : Microsoft.EntityFrameworkCore.Infrastructure.IModelCacheKeyFactory
    {
        public object Create(DbContext context, bool designTime) => (context.GetType(), ((SqlServerTallyDb)context).Token, designTime);
    }

    static SqlServerTallyDb Create(SagaConcurrencyToken token) =>
        new(new DbContextOptionsBuilder<SqlServerTallyDb>()
            .UseSqlServer("Server=127.0.0.1,1;Database=never_connected;User Id=sa;Password=unused;TrustServerCertificate=True")
            .ReplaceService<Microsoft.EntityFrameworkCore.Infrastructure.IModelCacheKeyFactory, TokenAwareCacheKey>()
            .Options, token);

    [Fact]
    public void RowVersion_script_has_the_table_the_key_and_a_rowversion_token()
    {
        using var db = Create(SagaConcurrencyToken.RowVersion);

        var script = db.Database.GenerateCreateScript();

        Assert.True(script.Contains("CREATE TABLE [Tallies]"), script);
        Assert.Contains("[CorrelationId] uniqueidentifier NOT NULL", script);
        Assert.True(script.Contains("[RowVersion] rowversion NOT NULL"), script);
        Assert.Contains("CONSTRAINT [PK_Tallies] PRIMARY KEY ([CorrelationId])", script);
        var rowVersion = db.Model.FindEntityType(typeof(TallyState))!.FindProperty("RowVersion")!;
        Assert.True(rowVersion.IsConcurrencyToken);
        Assert.Equal(ValueGenerated.OnAddOrUpdate, rowVersion.ValueGenerated);
    }

    [Fact]
    public void Version_script_has_an_int_token_the_repository_maintains()
    {
        using var db = Create(SagaConcurrencyToken.Version);

        var script = db.Database.GenerateCreateScript();

        Assert.Contains("[Version] int NOT NULL", script);
        Assert.Contains("CONSTRAINT [PK_Tallies] PRIMARY KEY ([CorrelationId])", script);
        var version = db.Model.FindEntityType(typeof(TallyState))!.FindProperty("Version")!;
        Assert.True(version.IsConcurrencyToken);
        Assert.Equal(ValueGenerated.Never, version.ValueGenerated);
        Assert.Equal(ValueGenerated.Never, db.Model.FindEntityType(typeof(TallyState))!.FindProperty(nameof(TallyState.CorrelationId))!.ValueGenerated);
    }

    [Fact]
    public void Pessimistic_load_takes_an_update_row_lock_on_SQL_Server()
    {
        using var db = Create(SagaConcurrencyToken.RowVersion);
        var rows = new SagaRowAccess<TallyState>(new EntityFrameworkSagaRepositoryOptions { ConcurrencyMode = SagaConcurrencyMode.Pessimistic });

        var sql = db.Set<TallyState>().FromSqlRaw(rows.LockingSelect(db), Guid.Empty).ToQueryString();

        Assert.Contains("FROM [Tallies] WITH (UPDLOCK, ROWLOCK) WHERE [CorrelationId] = @p0", sql);
    }
}
