using System.Data;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query.SqlExpressions;
using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore.Workflow;

/// <summary>
/// The provider-specific SQL the workflow store needs, mapped as functions of the model by
/// <see cref="WorkflowModelBuilderExtensions.AddWorkflowEventEntities"/> (each is only called on its provider):
/// <list type="bullet">
/// <item>the byte search of the body: SQLite <c>instr(blob, blob)</c>, PostgreSQL <c>position(bytea in bytea)</c>,
/// SQL Server <c>CHARINDEX(varbinary, varbinary)</c>;</item>
/// <item>on SQLite, a time column as the text EF Core stores it (<c>yyyy-MM-dd HH:mm:ss.FFFFFFFzzz</c>): SQLite has no
/// time type, and EF Core does not order or compare <see cref="DateTimeOffset"/> there. The text orders as the time
/// does while every value has the same offset, which holds for the processor's rows (it writes UTC).</item>
/// </list>
/// </summary>
static class WorkflowStoreSql
{
    internal const string Sqlite = "Microsoft.EntityFrameworkCore.Sqlite";
    internal const string Npgsql = "Npgsql.EntityFrameworkCore.PostgreSQL";
    internal const string SqlServer = "Microsoft.EntityFrameworkCore.SqlServer";

    const string NotInMemory = "Only translated to SQL by the workflow store's queries.";

    /// <summary>SQLite: 1 + the bytes before the first occurrence of <paramref name="needle"/> in <paramref name="haystack"/>, 0 when none.</summary>
    public static int SqliteInstr(byte[] haystack, byte[] needle) => throw new InvalidOperationException(NotInMemory);

    /// <summary>PostgreSQL: <c>position(needle in haystack)</c>.</summary>
    public static int PostgresPosition(byte[] haystack, byte[] needle) => throw new InvalidOperationException(NotInMemory);

    /// <summary>SQL Server: <c>CHARINDEX(needle, haystack)</c>.</summary>
    public static int SqlServerCharIndex(byte[] haystack, byte[] needle) => throw new InvalidOperationException(NotInMemory);

    /// <summary>SQLite: the stored text of a time column (the column itself, typed as text).</summary>
    public static string SqliteTimeText(DateTimeOffset value) => throw new InvalidOperationException(NotInMemory);

    /// <summary>SQLite: the stored text of a nullable time column.</summary>
    public static string? SqliteNullableTimeText(DateTimeOffset? value) => throw new InvalidOperationException(NotInMemory);

    /// <summary>A time as EF Core's SQLite provider writes it (UTC), to compare with <see cref="SqliteTimeText"/>.</summary>
    public static string ToSqliteText(DateTimeOffset value) =>
        value.ToUniversalTime().ToString(@"yyyy\-MM\-dd HH\:mm\:ss.FFFFFFFzzz", CultureInfo.InvariantCulture);

    /// <summary>Reads back a time compared or aggregated as text on SQLite.</summary>
    public static DateTimeOffset FromSqliteText(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    static readonly IntTypeMapping Int = new("INTEGER");
    static readonly StringTypeMapping Text = new("TEXT", DbType.String);

    /// <summary>Maps the functions into <paramref name="modelBuilder"/>.</summary>
    public static void Register(ModelBuilder modelBuilder)
    {
        modelBuilder.HasDbFunction(typeof(WorkflowStoreSql).GetMethod(nameof(SqliteInstr))!)
            .HasTranslation(a => new SqlFunctionExpression("instr", [a[0], a[1]], true, [true, true], typeof(int), Int));
        modelBuilder.HasDbFunction(typeof(WorkflowStoreSql).GetMethod(nameof(PostgresPosition))!)
            // The grammar's position(needle IN haystack) is pg_catalog.position(haystack, needle).
            .HasTranslation(a => new SqlFunctionExpression("pg_catalog", "position", [a[0], a[1]], true, [true, true], typeof(int), Int));
        modelBuilder.HasDbFunction(typeof(WorkflowStoreSql).GetMethod(nameof(SqlServerCharIndex))!)
            .HasTranslation(a => new SqlFunctionExpression("CHARINDEX", [a[1], a[0]], true, [true, true], typeof(int), Int));
        modelBuilder.HasDbFunction(typeof(WorkflowStoreSql).GetMethod(nameof(SqliteTimeText))!)
            .HasTranslation(a => AsText(a[0]));
        modelBuilder.HasDbFunction(typeof(WorkflowStoreSql).GetMethod(nameof(SqliteNullableTimeText))!)
            .HasTranslation(a => AsText(a[0]));
    }

    static SqlExpression AsText(SqlExpression value) =>
        value is ColumnExpression column
            ? new ColumnExpression(column.Name, column.TableAlias, typeof(string), Text, column.IsNullable)
            : throw new InvalidOperationException("The stored text of a time is only read from a column.");
}
