using System.Data.Common;
using System.Text.Json;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow;

/// <summary>
/// The retention sweep runs every interval on every instance, almost always with nothing past its retention: what it reads must
/// not grow with the resolved rows the table keeps. On PostgreSQL, with 20,000 rows resolved within their retention, the sweep's
/// query is run again under EXPLAIN ANALYZE and the rows it read from the table are counted.
/// </summary>
public sealed class WorkflowRetentionSweepCostTests
{
    const int Rows = 20_000;

    /// <summary>Keeps the text and parameters of the commands a DbContext runs.</summary>
    sealed class CommandLog : DbCommandInterceptor
    {
        public List<(string Text, NpgsqlParameter[] Parameters)> Commands { get; } = [];

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
            InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            lock (Commands)
                Commands.Add((command.CommandText, [.. command.Parameters.Cast<NpgsqlParameter>().Select(p => p.Clone())]));
            return base.ReaderExecutingAsync(command, eventData, result, cancellationToken);
        }
    }

    [Fact]
    public async Task A_sweep_with_nothing_past_its_retention_reads_no_rows_of_the_table()
    {
        await using var database = await ThrowawayDatabase<WorkflowDb>.CreateAsync(true, "wf_sweep_cost", o => new WorkflowDb(o));
        await using (var db = database.Open())
        await using (var seed = new NpgsqlConnection(db.Database.GetConnectionString()!))
        {
            await seed.OpenAsync(TestContext.Current.CancellationToken);
            // Resolved (Completed, Discarded) within the last 20 days, and some waiting: none past a 30-day retention.
            await using var insert = new NpgsqlCommand($$"""
                INSERT INTO "WorkflowEvents" ("CorrelationId", "Version", "CurrentState", "MessageTypes", "SourceAddress", "Body", "Headers", "Malformed",
                    "ExceptionType", "ExceptionMessage", "Failures", "RepairAttempts", "MaxRepairAttempts", "Attempt", "ReceivedAt", "UpdatedAt", "ResolvedAt",
                    "HeldMessages", "HeldCount", "AuditCount", "Audit")
                SELECT gen_random_uuid(), 1, CASE WHEN i % 10 < 7 THEN 'Completed' WHEN i % 10 < 8 THEN 'Discarded' ELSE 'AwaitingPerson' END,
                    'urn:message:Parcels:Ship', 'queue:parcels', '\x7b7d'::bytea, '{}', false, 'BadParcelException', 'bad', 1, 0, 3, 0,
                    now() - (i % 20) * interval '1 day', now() - (i % 20) * interval '1 day',
                    CASE WHEN i % 10 < 8 THEN now() - (i % 20) * interval '1 day' END, '[]', 0, 0, '[]'
                FROM generate_series(1, {{Rows}}) AS i
                """, seed);
            await insert.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            await using var vacuum = new NpgsqlCommand("VACUUM ANALYZE \"WorkflowEvents\"", seed);
            await vacuum.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }

        var log = new CommandLog();
        var services = new ServiceCollection().AddLogging().AddDbContext<WorkflowDb>(o =>
        {
            database.Configure(o);
            o.AddInterceptors(log);
        });
        services.AddWorkflowEventRetention<WorkflowDb>(o => o.Retention = TimeSpan.FromDays(30));
        await using var provider = services.BuildServiceProvider(true);

        var removed = await provider.GetRequiredService<WorkflowEventRetentionService<WorkflowDb>>().RemoveExpiredAsync(TestContext.Current.CancellationToken);

        Assert.Equal(0, removed);
        var (text, parameters) = Assert.Single(log.Commands);
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, FORMAT JSON) " + text, connection);
        explain.Parameters.AddRange(parameters);
        var plan = (string)(await explain.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
        var read = RowsRead(JsonDocument.Parse(plan).RootElement[0].GetProperty("Plan"));
        Assert.True(read == 0, $"the sweep read {read} rows of the {Rows} (none past the retention):\n{text}\n{plan}");
    }

    static string ConnectionString(ThrowawayDatabase<WorkflowDb> database)
    {
        using var db = database.Open();
        return db.Database.GetConnectionString()!;
    }

    /// <summary>Rows the plan's scans of the table produced or read and dropped (by a filter or an index recheck).</summary>
    static long RowsRead(JsonElement node)
    {
        long read = 0;
        if (node.TryGetProperty("Relation Name", out var relation) && relation.GetString() == "WorkflowEvents")
            foreach (var figure in new[] { "Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck" })
                if (node.TryGetProperty(figure, out var value))
                    read += (long)value.GetDouble();
        if (node.TryGetProperty("Plans", out var children))
            foreach (var child in children.EnumerateArray())
                read += RowsRead(child);
        return read;
    }
}
