using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>
/// The workflow table as a shop's failures fill it, for the dashboard benchmark and the workflow scale curve: the mix of
/// states (55 % completed, 15 % discarded, 24 % waiting for a person, the rest in flight), skewed exception types,
/// message types and queues, and the rows written with binary COPY.
/// </summary>
static class WorkflowTableSeed
{
    public const string Waiting = "AwaitingPerson";

    /// <summary>The COPY command <see cref="WriteRowAsync"/> writes rows for.</summary>
    public const string Copy =
        "COPY \"WorkflowEvents\" (\"CorrelationId\", \"Version\", \"CurrentState\", \"MessageType\", \"MessageTypes\", \"SourceAddress\", "
        + "\"ContentType\", \"Body\", \"Headers\", \"Malformed\", \"ExceptionType\", \"ExceptionMessage\", \"ExceptionDetail\", \"Failures\", "
        + "\"RepairAttempts\", \"MaxRepairAttempts\", \"Attempt\", \"ResubmittedBy\", \"ReceivedAt\", \"UpdatedAt\", \"ResolvedAt\", \"HoldKey\", "
        + "\"HeldMessages\", \"HeldCount\", \"AuditCount\", \"Audit\") FROM STDIN (FORMAT BINARY)";

    static readonly string[] States = ["Completed", "Discarded", Waiting, "Resubmitted", "Repairing", "Received"];
    static readonly int[] StateShares = [55, 15, 24, 4, 1, 1];

    /// <summary>0 .. count - 1, the low ones far more often (a few exception types, message types and queues dominate).</summary>
    public static int Skewed(Random random, int count) => (int)Math.Min(count - 1, Math.Floor(count * Math.Pow(random.NextDouble(), 2.5)));

    public static string ExceptionType(int i) => $"Shop.Orders.{(i % 3) switch { 0 => "Validation", 1 => "Pricing", _ => "Stock" }}Exception{i}";

    public static string MessageType(int i) => $"urn:message:Shop.Contracts:Message{i:00}";

    public static string Queue(int i) => $"rabbitmq://localhost/shop/queue-{i:00}";

    public static string State(Random random)
    {
        var roll = random.Next(100);
        for (var i = 0; i < States.Length; i++)
        {
            if (roll < StateShares[i])
                return States[i];
            roll -= StateShares[i];
        }
        return States[0];
    }

    /// <summary>A stack trace of <paramref name="frames"/> frames for each of the 12 exception types.</summary>
    public static string[] Details(int frames) => Enumerable.Range(0, 12).Select(e => string.Join("\n", Enumerable.Range(0, frames).Select(f =>
        $"   at Shop.Orders.Handler{e}.Step{f}(OrderContext context) in /src/Shop/Orders/Handler{e}.cs:line {40 + f * 7}"))).ToArray();

    /// <summary>Writes one row for <see cref="Copy"/>: a failed message's row, never malformed, resubmitted by no one, no hold.</summary>
    public static async Task WriteRowAsync(NpgsqlBinaryImporter writer, WorkflowSeedRow row, CancellationToken cancellationToken)
    {
        await writer.StartRowAsync(cancellationToken);
        await writer.WriteAsync(row.CorrelationId, NpgsqlDbType.Uuid, cancellationToken);
        await writer.WriteAsync(row.Version, NpgsqlDbType.Integer, cancellationToken);
        await writer.WriteAsync(row.State, NpgsqlDbType.Varchar, cancellationToken);
        await writer.WriteAsync(row.MessageType, NpgsqlDbType.Varchar, cancellationToken);
        await writer.WriteAsync(row.MessageType, NpgsqlDbType.Varchar, cancellationToken);
        await writer.WriteAsync(row.SourceAddress, NpgsqlDbType.Varchar, cancellationToken);
        await writer.WriteAsync("application/vnd.masstransit+json", NpgsqlDbType.Varchar, cancellationToken);
        await writer.WriteAsync(Encoding.UTF8.GetBytes(row.Body), NpgsqlDbType.Bytea, cancellationToken);
        await writer.WriteAsync(row.Headers, NpgsqlDbType.Text, cancellationToken);
        await writer.WriteAsync(false, NpgsqlDbType.Boolean, cancellationToken);
        await writer.WriteAsync(row.ExceptionType, NpgsqlDbType.Varchar, cancellationToken);
        await writer.WriteAsync(row.ExceptionMessage, NpgsqlDbType.Text, cancellationToken);
        await writer.WriteAsync(row.ExceptionDetail, NpgsqlDbType.Text, cancellationToken);
        await writer.WriteAsync(row.Failures, NpgsqlDbType.Integer, cancellationToken);
        await writer.WriteAsync(row.RepairAttempts, NpgsqlDbType.Integer, cancellationToken);
        await writer.WriteAsync(3, NpgsqlDbType.Integer, cancellationToken);
        await writer.WriteAsync(row.Attempt, NpgsqlDbType.Integer, cancellationToken);
        await writer.WriteNullAsync(cancellationToken);
        await writer.WriteAsync(row.ReceivedAt, NpgsqlDbType.TimestampTz, cancellationToken);
        await writer.WriteAsync(row.UpdatedAt, NpgsqlDbType.TimestampTz, cancellationToken);
        if (row.ResolvedAt is { } resolved)
            await writer.WriteAsync(resolved, NpgsqlDbType.TimestampTz, cancellationToken);
        else
            await writer.WriteNullAsync(cancellationToken);
        await writer.WriteNullAsync(cancellationToken);
        await writer.WriteAsync("[]", NpgsqlDbType.Text, cancellationToken);
        await writer.WriteAsync(0, NpgsqlDbType.Integer, cancellationToken);
        await writer.WriteAsync(row.AuditCount, NpgsqlDbType.Integer, cancellationToken);
        await writer.WriteAsync(row.Audit, NpgsqlDbType.Text, cancellationToken);
    }
}
