using System.Text;
using MassTransit.Saga;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The workflow store of any saga repository MassTransit can query and load (the in-memory one, the default of
/// <c>AddWorkflowEventProcessor</c>): every instance is loaded and filtered, ordered, paged and grouped here, in memory.
/// Meant for the in-memory repository (tests, demos); with a database use its package's store (EF Core:
/// <c>services.AddPatternsEntityFrameworkWorkflowStore&lt;TDbContext&gt;()</c>), which replaces this one and lets the
/// database do the work. Same answers as that one: strings ordered ordinally, ties by id; the search is the exception
/// message (any case) or the body's bytes (its UTF-8 text).
/// </summary>
sealed class SagaRepositoryWorkflowMessageStore(IServiceScopeFactory scopes) : IWorkflowMessageStore
{
    /// <inheritdoc />
    public async Task<WorkflowMessagePage> ListAsync(WorkflowMessageQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var size = Math.Clamp(query.PageSize, 1, 500);
        var page = Math.Clamp(query.Page, 1, int.MaxValue / size);
        var rows = Order(Matching(await AllAsync().ConfigureAwait(false), query.Filter ?? new WorkflowMessageFilter()), query.Sort, query.Descending).ToList();
        return new WorkflowMessagePage
        {
            Items = [.. rows.Skip((page - 1) * size).Take(size).Select(x => x.ToSummary())],
            Total = rows.Count,
            Page = page,
            PageSize = size
        };
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<WorkflowMessageGroup>> GroupsAsync(WorkflowMessageFilter filter, WorkflowGrouping grouping,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var rows = Matching(await AllAsync().ConfigureAwait(false), filter);
        return grouping switch
        {
            WorkflowGrouping.ExceptionAndMessageType => [.. rows.GroupBy(x => (x.ExceptionType, x.MessageType))
                .Select(g => new WorkflowMessageGroup
                {
                    ExceptionType = g.Key.ExceptionType,
                    MessageType = g.Key.MessageType,
                    Count = g.Count(),
                    FirstReceivedAt = g.Min(x => x.ReceivedAt),
                    LastReceivedAt = g.Max(x => x.ReceivedAt)
                })
                .OrderByDescending(g => g.Count).ThenBy(g => g.ExceptionType, StringComparer.Ordinal).ThenBy(g => g.MessageType, StringComparer.Ordinal)],
            WorkflowGrouping.SourceQueue => [.. rows.GroupBy(x => x.SourceAddress)
                .Select(g => new WorkflowMessageGroup
                {
                    SourceAddress = g.Key,
                    Count = g.Count(),
                    FirstReceivedAt = g.Min(x => x.ReceivedAt),
                    LastReceivedAt = g.Max(x => x.ReceivedAt)
                })
                .OrderByDescending(g => g.Count).ThenBy(g => g.SourceAddress, StringComparer.Ordinal)],
            _ => throw new ArgumentOutOfRangeException(nameof(grouping), grouping, "Not a workflow grouping.")
        };
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, long>> CountByStateAsync(CancellationToken cancellationToken = default) =>
        (await AllAsync().ConfigureAwait(false)).GroupBy(x => x.CurrentState).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);

    /// <inheritdoc />
    public async Task<WorkflowMessageDetails?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var saga = await scope.ServiceProvider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>().Load(id).ConfigureAwait(false);
        return saga?.ToDetails();
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<Guid>> IdsAsync(WorkflowMessageFilter filter, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (limit <= 0)
            return [];
        return [.. Order(Matching(await AllAsync().ConfigureAwait(false), filter), WorkflowMessageSort.ReceivedAt, descending: false)
            .Take(limit).Select(x => x.CorrelationId)];
    }

    async Task<List<WorkflowEventState>> AllAsync()
    {
        await using var scope = scopes.CreateAsyncScope();
        var query = scope.ServiceProvider.GetRequiredService<IQuerySagaRepository<WorkflowEventState>>();
        var load = scope.ServiceProvider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>();
        var ids = await query.Find(new SagaQuery<WorkflowEventState>(_ => true)).ConfigureAwait(false);
        var all = new List<WorkflowEventState>();
        foreach (var id in ids)
            if (await load.Load(id).ConfigureAwait(false) is { } saga)
                all.Add(saga);
        return all;
    }

    static IEnumerable<WorkflowEventState> Matching(IEnumerable<WorkflowEventState> rows, WorkflowMessageFilter f)
    {
        var search = f.Search is { Length: > 0 } text ? Encoding.UTF8.GetBytes(text) : null;
        return rows.Where(x => (f.State is not { Length: > 0 } || x.CurrentState == f.State)
                               && (f.MessageType is not { Length: > 0 } || x.MessageType == f.MessageType)
                               && (f.ExceptionType is not { Length: > 0 } || x.ExceptionType == f.ExceptionType)
                               && (f.SourceAddress is not { Length: > 0 } || x.SourceAddress == f.SourceAddress)
                               && (f.From is not { } from || x.ReceivedAt >= from)
                               && (f.To is not { } to || x.ReceivedAt < to)
                               && (search is null || x.ExceptionMessage.Contains(f.Search!, StringComparison.OrdinalIgnoreCase)
                                   || x.Body.AsSpan().IndexOf(search) >= 0));
    }

    static IOrderedEnumerable<WorkflowEventState> Order(IEnumerable<WorkflowEventState> rows, WorkflowMessageSort sort, bool descending) =>
        sort switch
        {
            WorkflowMessageSort.ReceivedAt => By(rows, x => x.ReceivedAt, Comparer<DateTimeOffset>.Default, descending),
            WorkflowMessageSort.UpdatedAt => By(rows, x => x.UpdatedAt, Comparer<DateTimeOffset>.Default, descending),
            WorkflowMessageSort.State => By(rows, x => x.CurrentState, StringComparer.Ordinal, descending),
            WorkflowMessageSort.MessageType => By(rows, x => x.MessageType, StringComparer.Ordinal, descending),
            WorkflowMessageSort.ExceptionType => By(rows, x => x.ExceptionType, StringComparer.Ordinal, descending),
            WorkflowMessageSort.SourceAddress => By(rows, x => x.SourceAddress, StringComparer.Ordinal, descending),
            WorkflowMessageSort.Failures => By(rows, x => x.Failures, Comparer<int>.Default, descending),
            _ => throw new ArgumentOutOfRangeException(nameof(sort), sort, "Not a workflow message sort.")
        };

    static IOrderedEnumerable<WorkflowEventState> By<TKey>(IEnumerable<WorkflowEventState> rows, Func<WorkflowEventState, TKey> key, IComparer<TKey> comparer,
        bool descending) =>
        descending
            ? rows.OrderByDescending(key, comparer).ThenByDescending(x => x.CorrelationId)
            : rows.OrderBy(key, comparer).ThenBy(x => x.CorrelationId);
}
