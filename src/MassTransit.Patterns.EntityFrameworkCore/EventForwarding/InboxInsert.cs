using System.Data.Common;
using MassTransit.Middleware;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The inbox claim as one parameterized statement, with the table and column names the application's
/// model maps (schema, renamed table) quoted by its provider, built once per model (a DbContext type
/// used with two providers has two models, and two statements). Where the provider has one, the
/// statement skips an existing row instead of failing on the key: 1 row affected claims the message,
/// 0 means a copy was consumed.
/// </summary>
static class InboxInsert
{
    /// <summary>The claim, and whether it skips an existing row (true) or fails on the key (a plain insert).</summary>
    public sealed record Statement(string Sql, bool SkipsDuplicate);

    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Microsoft.EntityFrameworkCore.Metadata.IModel, Statement> Statements = new();

    public static Statement For(DbContext db) => Statements.GetValue(db.Model, _ => Build(db));

    static Statement Build(DbContext db)
    {
        EventForwardingModelBuilderExtensions.EnsureEventForwardingEntities(db);
        var entity = db.Model.FindEntityType(typeof(InboxEntry))!;
        var sql = Microsoft.EntityFrameworkCore.Infrastructure.AccessorExtensions.GetService<ISqlGenerationHelper>(db);
        var table = Microsoft.EntityFrameworkCore.Metadata.StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        string Column(string property) => sql.DelimitIdentifier(entity.FindProperty(property)!.GetColumnName(table)!);
        var name = sql.DelimitIdentifier(table.Name, table.Schema);
        var (messageId, consumerId, consumed) = (Column(nameof(InboxEntry.MessageId)), Column(nameof(InboxEntry.ConsumerId)), Column(nameof(InboxEntry.Consumed)));
        var insert = $"INSERT INTO {name} ({messageId}, {consumerId}, {consumed})";
        return db.Database.ProviderName switch
        {
            "Npgsql.EntityFrameworkCore.PostgreSQL" or "Microsoft.EntityFrameworkCore.Sqlite" =>
                new Statement($"{insert} VALUES ({{0}}, {{1}}, {{2}}) ON CONFLICT DO NOTHING", true),
            // The key-range lock (UPDLOCK, HOLDLOCK) makes a concurrent copy wait for this transaction, as the key does elsewhere.
            "Microsoft.EntityFrameworkCore.SqlServer" =>
                new Statement($"{insert} SELECT {{0}}, {{1}}, {{2}} WHERE NOT EXISTS (SELECT 1 FROM {name} WITH (UPDLOCK, HOLDLOCK) " +
                    $"WHERE {messageId} = {{0}} AND {consumerId} = {{1}})", true),
            _ => new Statement($"{insert} VALUES ({{0}}, {{1}}, {{2}})", false)
        };
    }
}
