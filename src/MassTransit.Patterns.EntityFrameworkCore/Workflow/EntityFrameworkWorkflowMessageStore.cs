using System.Linq.Expressions;
using System.Text;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Workflow;

/// <summary>
/// The workflow store over <typeparamref name="TDbContext"/> (mapped with <c>AddWorkflowEventEntities</c>): every filter,
/// order, page, count and group is one query the database computes, on the indexes <c>AddWorkflowEventEntities</c> creates.
/// A scope (and a DbContext) per call, so one instance serves the whole application; read-only, no tracking.
/// The free-text search is the one criterion no index serves: the exception message contains the text (case-insensitive)
/// or the body's bytes contain its UTF-8 bytes (case-sensitive), checked row by row among the rows the other criteria leave.
/// </summary>
sealed class EntityFrameworkWorkflowMessageStore<TDbContext>(IServiceScopeFactory scopes) : IWorkflowMessageStore
    where TDbContext : DbContext
{
    /// <summary>The largest page.</summary>
    public const int MaxPageSize = 500;

    /// <summary>The most ids one call returns.</summary>
    public const int MaxIds = 100_000;

    /// <inheritdoc />
    public async Task<WorkflowMessagePage> ListAsync(WorkflowMessageQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var size = Math.Clamp(query.PageSize, 1, MaxPageSize);
        var page = Math.Clamp(query.Page, 1, int.MaxValue / size);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        var sqlite = IsSqlite(db);
        var rows = Filter(db, query.Filter ?? new WorkflowMessageFilter());

        var total = await rows.LongCountAsync(cancellationToken).ConfigureAwait(false);
        var items = total <= (long)(page - 1) * size
            ? []
            : await PageQuery(db, rows, query.Sort, query.Descending, sqlite, page, size).ToListAsync(cancellationToken).ConfigureAwait(false);

        return new WorkflowMessagePage { Items = [.. items.Select(r => r.ToSummary())], Total = total, Page = page, PageSize = size };
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<WorkflowMessageGroup>> GroupsAsync(WorkflowMessageFilter filter, WorkflowGrouping grouping,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        var rows = Filter(db, filter);
        var sqlite = IsSqlite(db);

        if (sqlite)
            return [.. (await GroupQueryAsText(rows, grouping).ToListAsync(cancellationToken).ConfigureAwait(false)).Select(g => new WorkflowMessageGroup
            {
                ExceptionType = g.ExceptionType,
                MessageType = g.MessageType,
                SourceAddress = g.SourceAddress,
                Count = g.Count,
                FirstReceivedAt = WorkflowStoreSql.FromSqliteText(g.First!),
                LastReceivedAt = WorkflowStoreSql.FromSqliteText(g.Last!)
            })];
        return [.. (await GroupQuery(rows, grouping).ToListAsync(cancellationToken).ConfigureAwait(false)).Select(g => new WorkflowMessageGroup
        {
            ExceptionType = g.ExceptionType,
            MessageType = g.MessageType,
            SourceAddress = g.SourceAddress,
            Count = g.Count,
            FirstReceivedAt = g.First,
            LastReceivedAt = g.Last
        })];
    }

    /// <summary>The groups of <paramref name="rows"/>, counted with their first and last time, largest first.</summary>
    internal static IQueryable<GroupRow<DateTimeOffset>> GroupQuery(IQueryable<WorkflowEventState> rows, WorkflowGrouping grouping) =>
        grouping switch
        {
            WorkflowGrouping.ExceptionAndMessageType => rows.GroupBy(x => new { x.ExceptionType, x.MessageType })
                .Select(g => new GroupRow<DateTimeOffset>
                {
                    ExceptionType = g.Key.ExceptionType,
                    MessageType = g.Key.MessageType,
                    Count = g.LongCount(),
                    First = g.Min(x => x.ReceivedAt),
                    Last = g.Max(x => x.ReceivedAt)
                })
                .OrderByDescending(g => g.Count).ThenBy(g => g.ExceptionType).ThenBy(g => g.MessageType),
            WorkflowGrouping.SourceQueue => rows.GroupBy(x => x.SourceAddress)
                .Select(g => new GroupRow<DateTimeOffset>
                {
                    SourceAddress = g.Key,
                    Count = g.LongCount(),
                    First = g.Min(x => x.ReceivedAt),
                    Last = g.Max(x => x.ReceivedAt)
                })
                .OrderByDescending(g => g.Count).ThenBy(g => g.SourceAddress),
            _ => throw new ArgumentOutOfRangeException(nameof(grouping), grouping, "Not a workflow grouping.")
        };

    /// <summary><see cref="GroupQuery"/> on SQLite: the times as their stored text.</summary>
    internal static IQueryable<GroupRow<string?>> GroupQueryAsText(IQueryable<WorkflowEventState> rows, WorkflowGrouping grouping) =>
        grouping switch
        {
            WorkflowGrouping.ExceptionAndMessageType => rows.GroupBy(x => new { x.ExceptionType, x.MessageType })
                .Select(g => new GroupRow<string?>
                {
                    ExceptionType = g.Key.ExceptionType,
                    MessageType = g.Key.MessageType,
                    Count = g.LongCount(),
                    First = g.Min(x => WorkflowStoreSql.SqliteTimeText(x.ReceivedAt)),
                    Last = g.Max(x => WorkflowStoreSql.SqliteTimeText(x.ReceivedAt))
                })
                .OrderByDescending(g => g.Count).ThenBy(g => g.ExceptionType).ThenBy(g => g.MessageType),
            WorkflowGrouping.SourceQueue => rows.GroupBy(x => x.SourceAddress)
                .Select(g => new GroupRow<string?>
                {
                    SourceAddress = g.Key,
                    Count = g.LongCount(),
                    First = g.Min(x => WorkflowStoreSql.SqliteTimeText(x.ReceivedAt)),
                    Last = g.Max(x => WorkflowStoreSql.SqliteTimeText(x.ReceivedAt))
                })
                .OrderByDescending(g => g.Count).ThenBy(g => g.SourceAddress),
            _ => throw new ArgumentOutOfRangeException(nameof(grouping), grouping, "Not a workflow grouping.")
        };

    /// <summary>One group as the database computes it.</summary>
    internal sealed class GroupRow<TTime>
    {
        public string? ExceptionType { get; init; }
        public string? MessageType { get; init; }
        public string? SourceAddress { get; init; }
        public long Count { get; init; }
        public TTime First { get; init; } = default!;
        public TTime Last { get; init; } = default!;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, long>> CountByStateAsync(CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        var counts = await db.Set<WorkflowEventState>().AsNoTracking()
            .GroupBy(x => x.CurrentState)
            .Select(g => new { State = g.Key, Count = g.LongCount() })
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        return counts.ToDictionary(c => c.State, c => c.Count, StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public async Task<WorkflowMessageDetails?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        var saga = await db.Set<WorkflowEventState>().AsNoTracking().FirstOrDefaultAsync(x => x.CorrelationId == id, cancellationToken).ConfigureAwait(false);
        return saga?.ToDetails();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Guid>> IdsAsync(WorkflowMessageFilter filter, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (limit <= 0)
            return [];
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        return await Order(Filter(db, filter), WorkflowMessageSort.ReceivedAt, descending: false, IsSqlite(db))
            .Select(x => x.CorrelationId)
            .Take(Math.Min(limit, MaxIds))
            .ToListAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One page of <paramref name="rows"/>, the summary columns only (no body, headers or audit). The page's ids are picked
    /// first (from an index that ends with the sort column and the id, the offset skipped there), then only those rows are
    /// read: a deep page does not read the rows it skips.
    /// </summary>
    internal static IQueryable<SummaryRow> PageQuery(DbContext db, IQueryable<WorkflowEventState> rows, WorkflowMessageSort sort, bool descending,
        bool sqlite, int page, int size)
    {
        var ids = Order(rows, sort, descending, sqlite).Skip((page - 1) * size).Take(size).Select(x => x.CorrelationId);
        return Order(db.Set<WorkflowEventState>().AsNoTracking().Where(x => ids.Contains(x.CorrelationId)), sort, descending, sqlite)
            .Select(x => new SummaryRow(x.CorrelationId, x.CurrentState, x.MessageType, x.SourceAddress, x.ExceptionType, x.ExceptionMessage, x.Failures,
                x.RepairAttempts, x.ReceivedAt, x.UpdatedAt));
    }

    static bool IsSqlite(DbContext db) => db.Database.ProviderName == WorkflowStoreSql.Sqlite;

    /// <summary>The rows that match <paramref name="filter"/>, every criterion in SQL.</summary>
    internal static IQueryable<WorkflowEventState> Filter(DbContext db, WorkflowMessageFilter filter)
    {
        var rows = db.Set<WorkflowEventState>().AsNoTracking();
        var provider = db.Database.ProviderName;
        var sqlite = provider == WorkflowStoreSql.Sqlite;
        if (filter.State is { Length: > 0 } state)
            rows = rows.Where(x => x.CurrentState == state);
        if (filter.MessageType is { Length: > 0 } messageType)
            rows = rows.Where(x => x.MessageType == messageType);
        if (filter.ExceptionType is { Length: > 0 } exceptionType)
            rows = rows.Where(x => x.ExceptionType == exceptionType);
        if (filter.SourceAddress is { Length: > 0 } sourceAddress)
            rows = rows.Where(x => x.SourceAddress == sourceAddress);
        if (filter.From is { } from)
        {
            if (sqlite)
            {
                var text = WorkflowStoreSql.ToSqliteText(from);
                rows = rows.Where(x => WorkflowStoreSql.SqliteTimeText(x.ReceivedAt).CompareTo(text) >= 0);
            }
            else
            {
                // Npgsql writes only UTC times (timestamptz); the same instant in UTC compares the same everywhere.
                var utc = from.ToUniversalTime();
                rows = rows.Where(x => x.ReceivedAt >= utc);
            }
        }
        if (filter.To is { } to)
        {
            if (sqlite)
            {
                var text = WorkflowStoreSql.ToSqliteText(to);
                rows = rows.Where(x => WorkflowStoreSql.SqliteTimeText(x.ReceivedAt).CompareTo(text) < 0);
            }
            else
            {
                var utc = to.ToUniversalTime();
                rows = rows.Where(x => x.ReceivedAt < utc);
            }
        }
        if (filter.Search is { Length: > 0 } search)
        {
            var lowered = search.ToLowerInvariant();
            var bytes = Encoding.UTF8.GetBytes(search);
            rows = provider switch
            {
                WorkflowStoreSql.Sqlite => rows.Where(x => x.ExceptionMessage.ToLower().Contains(lowered) || WorkflowStoreSql.SqliteInstr(x.Body, bytes) > 0),
                WorkflowStoreSql.Npgsql => rows.Where(x => x.ExceptionMessage.ToLower().Contains(lowered) || WorkflowStoreSql.PostgresPosition(x.Body, bytes) > 0),
                WorkflowStoreSql.SqlServer => rows.Where(x => x.ExceptionMessage.ToLower().Contains(lowered) || WorkflowStoreSql.SqlServerCharIndex(x.Body, bytes) > 0),
                _ => throw new NotSupportedException(
                    $"The workflow store searches bodies on SQLite, PostgreSQL and SQL Server; {provider} has no byte search mapped.")
            };
        }
        return rows;
    }

    /// <summary>The order of a page: the sort column, then the id (so equal values keep one order across pages).</summary>
    internal static IQueryable<WorkflowEventState> Order(IQueryable<WorkflowEventState> rows, WorkflowMessageSort sort, bool descending, bool sqlite) =>
        sort switch
        {
            WorkflowMessageSort.ReceivedAt when sqlite => By(rows, x => WorkflowStoreSql.SqliteTimeText(x.ReceivedAt), descending),
            WorkflowMessageSort.ReceivedAt => By(rows, x => x.ReceivedAt, descending),
            WorkflowMessageSort.UpdatedAt when sqlite => By(rows, x => WorkflowStoreSql.SqliteTimeText(x.UpdatedAt), descending),
            WorkflowMessageSort.UpdatedAt => By(rows, x => x.UpdatedAt, descending),
            WorkflowMessageSort.State => By(rows, x => x.CurrentState, descending),
            WorkflowMessageSort.MessageType => By(rows, x => x.MessageType, descending),
            WorkflowMessageSort.ExceptionType => By(rows, x => x.ExceptionType, descending),
            WorkflowMessageSort.SourceAddress => By(rows, x => x.SourceAddress, descending),
            WorkflowMessageSort.Failures => By(rows, x => x.Failures, descending),
            _ => throw new ArgumentOutOfRangeException(nameof(sort), sort, "Not a workflow message sort.")
        };

    static IQueryable<WorkflowEventState> By<TKey>(IQueryable<WorkflowEventState> rows, Expression<Func<WorkflowEventState, TKey>> key, bool descending) =>
        descending
            ? rows.OrderByDescending(key).ThenByDescending(x => x.CorrelationId)
            : rows.OrderBy(key).ThenBy(x => x.CorrelationId);

    internal sealed record SummaryRow(Guid CorrelationId, string State, string? MessageType, string SourceAddress, string ExceptionType, string ExceptionMessage,
        int Failures, int RepairAttempts, DateTimeOffset ReceivedAt, DateTimeOffset UpdatedAt)
    {
        public WorkflowMessageSummary ToSummary() => new()
        {
            CorrelationId = CorrelationId,
            State = State,
            MessageType = MessageType,
            SourceAddress = Uri.TryCreate(SourceAddress, UriKind.Absolute, out var source) ? source : null,
            ExceptionType = ExceptionType,
            ExceptionMessage = ExceptionMessage,
            Failures = Failures,
            RepairAttempts = RepairAttempts,
            ReceivedAt = ReceivedAt,
            UpdatedAt = UpdatedAt
        };
    }
}
