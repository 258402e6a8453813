using Microsoft.EntityFrameworkCore;
using Npgsql;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>
/// A database of one scenario run: on PostgreSQL (the RabbitMQ runs) a database of its own on the
/// server build/services.sh started, otherwise a SQLite file in WAL mode; created empty from the
/// model of <typeparamref name="TDb"/>, dropped (files and all) when disposed.
/// </summary>
public sealed class BenchDatabase<TDb> : IAsyncDisposable
    where TDb : DbContext
{
    readonly Func<DbContextOptions<TDb>, TDb> _create;

    BenchDatabase(Action<DbContextOptionsBuilder> configure, Func<DbContextOptions<TDb>, TDb> create)
    {
        Configure = configure;
        _create = create;
    }

    /// <summary>Configures a DbContext for this database (pass to <c>AddDbContext</c>).</summary>
    public Action<DbContextOptionsBuilder> Configure { get; }

    /// <param name="postgres">PostgreSQL when true, SQLite otherwise.</param>
    /// <param name="name">A short name for the database or file (the scenario's).</param>
    /// <param name="create">Creates the context from options (its constructor).</param>
    /// <param name="cancellationToken">Stops the creation.</param>
    public static async Task<BenchDatabase<TDb>> CreateAsync(bool postgres, string name, Func<DbContextOptions<TDb>, TDb> create,
        CancellationToken cancellationToken)
    {
        Action<DbContextOptionsBuilder> configure;
        if (postgres)
        {
            var connection = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
                { Database = $"bench_{name}_{Guid.NewGuid():N}"[..24], MaxPoolSize = 64 }.ConnectionString;
            configure = o => o.UseNpgsql(connection);
        }
        else
        {
            var file = Path.Combine(Path.GetTempPath(), $"mtp-bench-{name}-{Guid.NewGuid():N}.db");
            configure = o => o.UseSqlite($"Data Source={file};Pooling=False;Default Timeout=60");
        }
        var database = new BenchDatabase<TDb>(configure, create);
        await using var db = database.Open();
        await db.Database.EnsureDeletedAsync(cancellationToken);
        await db.Database.EnsureCreatedAsync(cancellationToken);
        if (!postgres)
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        return database;
    }

    /// <summary>A new context on this database; the caller disposes it.</summary>
    public TDb Open()
    {
        var builder = new DbContextOptionsBuilder<TDb>();
        Configure(builder);
        return _create(builder.Options);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // Pooled connections would keep the PostgreSQL database from being dropped.
        NpgsqlConnection.ClearAllPools();
        await using var db = Open();
        var file = db.Database.IsSqlite() ? db.Database.GetDbConnection().DataSource : null;
        await db.Database.EnsureDeletedAsync();
        if (file is not null)
            foreach (var f in new[] { file + "-wal", file + "-shm" })
                File.Delete(f);
    }
}
