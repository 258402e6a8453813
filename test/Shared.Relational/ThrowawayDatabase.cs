using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// A database of one test or benchmark run: on PostgreSQL a database of its own on the server
/// build/services.sh started, otherwise a SQLite file in WAL mode; created empty from the model of
/// <typeparamref name="TDb"/>, dropped (files and all) when disposed. Linked into the projects that
/// reference EF Core's SQLite and PostgreSQL providers.
/// </summary>
public sealed class ThrowawayDatabase<TDb> : IAsyncDisposable
    where TDb : DbContext
{
    readonly Func<DbContextOptions<TDb>, TDb> _create;

    ThrowawayDatabase(Action<DbContextOptionsBuilder> configure, Func<DbContextOptions<TDb>, TDb> create, string? connectionString)
    {
        Configure = configure;
        _create = create;
        ConnectionString = connectionString;
    }

    /// <summary>The PostgreSQL database's connection string; null for SQLite.</summary>
    public string? ConnectionString { get; }

    /// <summary>Configures a DbContext for this database (pass to <c>AddDbContext</c>).</summary>
    public Action<DbContextOptionsBuilder> Configure { get; }

    /// <param name="postgres">PostgreSQL when true, SQLite otherwise.</param>
    /// <param name="name">A short name for the database or file.</param>
    /// <param name="create">Creates the context from options (its constructor).</param>
    /// <param name="maxPoolSize">PostgreSQL connections pooled at most.</param>
    /// <param name="cancellationToken">Stops the creation.</param>
    public static async Task<ThrowawayDatabase<TDb>> CreateAsync(bool postgres, string name, Func<DbContextOptions<TDb>, TDb> create,
        int maxPoolSize = 64, CancellationToken cancellationToken = default)
    {
        Action<DbContextOptionsBuilder> configure;
        string? connection = null;
        if (postgres)
        {
            connection = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
            { Database = $"{name}_{Guid.NewGuid():N}"[..24], MaxPoolSize = maxPoolSize }.ConnectionString;
            configure = o => o.UseNpgsql(connection);
        }
        else
        {
            var file = Path.Combine(Path.GetTempPath(), $"mtp-{name}-{Guid.NewGuid():N}.db");
            configure = o => o.UseSqlite($"Data Source={file};Pooling=False;Default Timeout=60");
        }
        var database = new ThrowawayDatabase<TDb>(configure, create, connection);
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
        await using var db = Open();
        // Pooled connections would keep the PostgreSQL database from being dropped.
        if (db.Database.GetDbConnection() is NpgsqlConnection connection)
            NpgsqlConnection.ClearPool(connection);
        var file = db.Database.IsSqlite() ? db.Database.GetDbConnection().DataSource : null;
        await db.Database.EnsureDeletedAsync();
        if (file is not null)
            foreach (var f in new[] { file + "-wal", file + "-shm" })
                File.Delete(f);
    }
}
