using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The batched inbox's statements, with the names the model maps, per provider: one insert claiming every
/// key of a batch that returns the keys it inserted (a key not returned was consumed already), and the
/// delete that gives back the claim of a member whose consumer failed. Keys are claimed in sorted order, so
/// two batches claiming overlapping keys wait on each other instead of deadlocking. Providers without such
/// an insert (other than PostgreSQL, SQLite, SQL Server) have no batched claim: their messages run alone.
/// </summary>
static class InboxBatchClaim
{
    static readonly ConditionalWeakTable<IModel, Statements> ByModel = new();

    /// <summary>The claim of <paramref name="count"/> keys: parameters m0, c0, m1, c1, ..., then the time; null when the provider has none.</summary>
    public static string? ClaimSql(DbContext db, int count) => ByModel.GetValue(db.Model, _ => Build(db)).Claim(count);

    /// <summary>Deletes one key (parameters: message id, consumer id).</summary>
    public static string DeleteSql(DbContext db) => ByModel.GetValue(db.Model, _ => Build(db)).Delete;

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
        readonly ConcurrentDictionary<int, string> _claims = new();

        public string Delete { get; } = $"DELETE FROM {table} WHERE {messageId} = {{0}} AND {consumerId} = {{1}}";

        public string? Claim(int count) => provider == Provider.Other ? null : _claims.GetOrAdd(count, Build);

        string Build(int count)
        {
            var time = $"{{{2 * count}}}";
            var keys = new StringBuilder();
            for (var i = 0; i < count; i++)
                keys.Append(i == 0 ? "" : ", ").Append(provider == Provider.SqlServer
                    ? $"({{{2 * i}}}, {{{2 * i + 1}}})"
                    : $"({{{2 * i}}}, {{{2 * i + 1}}}, {time})");

            var insert = $"INSERT INTO {table} ({messageId}, {consumerId}, {consumed})";
            return provider == Provider.SqlServer
                // The key-range lock makes a concurrent claim of the same key wait for this transaction, as the key does elsewhere.
                ? $"{insert} OUTPUT inserted.{messageId} AS {messageIdAlias}, inserted.{consumerId} AS {consumerIdAlias} " +
                    $"SELECT v.m, v.c, {time} FROM (VALUES {keys}) AS v(m, c) WHERE NOT EXISTS (SELECT 1 FROM {table} WITH (UPDLOCK, HOLDLOCK) " +
                    $"WHERE {messageId} = v.m AND {consumerId} = v.c)"
                : $"{insert} VALUES {keys} ON CONFLICT DO NOTHING RETURNING {messageId} AS {messageIdAlias}, {consumerId} AS {consumerIdAlias}";
        }
    }
}
