namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>The column that detects a concurrent update of a saga row.</summary>
public enum SagaConcurrencyToken
{
    /// <summary>
    /// An integer column <c>Version</c> (the saga's own <see cref="ISagaVersion.Version"/>, or a
    /// shadow property) that the repository increments on each update. Works on every provider.
    /// </summary>
    Version,

    /// <summary>
    /// A SQL Server <c>rowversion</c> column (shadow property <c>RowVersion</c>) that the server
    /// maintains. SQL Server only; PostgreSQL and SQLite use <see cref="Version"/>.
    /// </summary>
    RowVersion
}
