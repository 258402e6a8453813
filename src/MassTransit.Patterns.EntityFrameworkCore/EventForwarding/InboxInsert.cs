using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The inbox's statements, with the table and column names the application's model maps (schema,
/// renamed table) quoted by its provider, built once per model (a DbContext type used with two
/// providers has two models, and two sets of statements):
/// <list type="bullet">
/// <item>the claim of one message (<see cref="For"/>): where the provider has one, the statement skips an
/// existing row instead of failing on the key: 1 row affected claims the message, 0 means a copy was consumed;</item>
/// <item>the claim of a batch (<see cref="BatchClaimSql"/>): one insert of every key that returns the keys it
/// inserted (a key not returned was consumed already); keys are passed sorted, so two batches claiming
/// overlapping keys wait on each other instead of deadlocking; null where the provider has no such insert
/// (other than PostgreSQL, SQLite, SQL Server): their messages run alone;</item>
/// <item>the delete that gives back the claim of a batch member whose consumer failed (<see cref="DeleteSql"/>).</item>
/// </list>
/// </summary>
static class InboxInsert
{
    /// <summary>The claim, and whether it skips an existing row (true) or fails on the key (a plain insert).</summary>
    public sealed record Statement(string Sql, bool SkipsDuplicate);

    static readonly ConditionalWeakTable<IModel, Statements> ByModel = new();

    public static Statement For(DbContext db) => Of(db).Single;

    /// <summary>The claim of <paramref name="count"/> keys: parameters m0, c0, m1, c1, ..., then the time; null when the provider has none.</summary>
    public static string? BatchClaimSql(DbContext db, int count) => Of(db).Batch(count);

    /// <summary>Deletes one key (parameters: message id, consumer id).</summary>
    public static string DeleteSql(DbContext db) => Of(db).Delete;

    static Statements Of(DbContext db) => ByModel.GetValue(db.Model, _ => Build(db));

    static Statements Build(DbContext db)
    {
        EventForwardingModelBuilderExtensions.EnsureEventForwardingEntities(db);
        var entity = db.Model.FindEntityType(typeof(InboxEntry))!;
        var sql = Microsoft.EntityFrameworkCore.Infrastructure.AccessorExtensions.GetService<ISqlGenerationHelper>(db);
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        string Column(string property) => sql.DelimitIdentifier(entity.FindProperty(property)!.GetColumnName(table)!);
        var provider = db.Database.ProviderName switch
        {
            "Npgsql.EntityFrameworkCore.PostgreSQL" => Provider.PostgreSql,
            "Microsoft.EntityFrameworkCore.Sqlite" => Provider.Sqlite,
            "Microsoft.EntityFrameworkCore.SqlServer" => Provider.SqlServer,
            _ => Provider.Other
        };
        return new Statements(provider, sql.DelimitIdentifier(table.Name, table.Schema), Column(nameof(InboxEntry.MessageId)),
            Column(nameof(InboxEntry.ConsumerId)), Column(nameof(InboxEntry.Consumed)), sql.DelimitIdentifier(nameof(ClaimedInboxKey.MessageId)),
            sql.DelimitIdentifier(nameof(ClaimedInboxKey.ConsumerId)));
    }

    enum Provider
    {
        PostgreSql,
        Sqlite,
        SqlServer,
        Other
    }

    sealed class Statements(Provider provider, string table, string messageId, string consumerId, string consumed, string messageIdAlias, string consumerIdAlias)
    {
        readonly ConcurrentDictionary<int, string> _batches = new();
        readonly string _insert = $"INSERT INTO {table} ({messageId}, {consumerId}, {consumed})";

        public Statement Single => field ??= provider switch
        {
            Provider.PostgreSql or Provider.Sqlite => new Statement($"{_insert} VALUES ({{0}}, {{1}}, {{2}}) ON CONFLICT DO NOTHING", true),
            // The key-range lock (UPDLOCK, HOLDLOCK) makes a concurrent copy wait for this transaction, as the key does elsewhere.
            Provider.SqlServer => new Statement($"{_insert} SELECT {{0}}, {{1}}, {{2}} WHERE NOT EXISTS (SELECT 1 FROM {table} WITH (UPDLOCK, HOLDLOCK) " +
                $"WHERE {messageId} = {{0}} AND {consumerId} = {{1}})", true),
            _ => new Statement($"{_insert} VALUES ({{0}}, {{1}}, {{2}})", false)
        };

        public string Delete { get; } = $"DELETE FROM {table} WHERE {messageId} = {{0}} AND {consumerId} = {{1}}";

        public string? Batch(int count) => provider == Provider.Other ? null : _batches.GetOrAdd(count, BuildBatch);

        string BuildBatch(int count)
        {
            var time = $"{{{2 * count}}}";
            var keys = new StringBuilder();
            for (var i = 0; i < count; i++)
                keys.Append(i == 0 ? "" : ", ").Append(provider == Provider.SqlServer
                    ? $"({{{2 * i}}}, {{{2 * i + 1}}})"
                    : $"({{{2 * i}}}, {{{2 * i + 1}}}, {time})");

            return provider == Provider.SqlServer
                // The key-range lock makes a concurrent claim of the same key wait for this transaction, as the key does elsewhere.
                ? $"{_insert} OUTPUT inserted.{messageId} AS {messageIdAlias}, inserted.{consumerId} AS {consumerIdAlias} " +
                    $"SELECT v.m, v.c, {time} FROM (VALUES {keys}) AS v(m, c) WHERE NOT EXISTS (SELECT 1 FROM {table} WITH (UPDLOCK, HOLDLOCK) " +
                    $"WHERE {messageId} = v.m AND {consumerId} = v.c)"
                : $"{_insert} VALUES {keys} ON CONFLICT DO NOTHING RETURNING {messageId} AS {messageIdAlias}, {consumerId} AS {consumerIdAlias}";
        }
    }
}
