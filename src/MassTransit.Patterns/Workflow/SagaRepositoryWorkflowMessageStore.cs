using System.Text;
using MassTransit.Saga;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// An <see cref="IWorkflowMessageStore"/> over any saga repository MassTransit can query and load (the in-memory one,
/// for tests and small in-memory apps): every query loads the workflows and filters, orders and counts them in memory.
/// Not for a production database: there the EF Core store pages and counts in SQL.
/// </summary>
sealed class SagaRepositoryWorkflowMessageStore(IQuerySagaRepository<WorkflowEventState> query, ILoadSagaRepository<WorkflowEventState> load)
    : IWorkflowMessageStore
{
    static readonly Encoding Utf8 = new UTF8Encoding(false, false);

    public async Task<WorkflowMessagePage> ListAsync(WorkflowMessageQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var page = Math.Max(1, query.Page);
        var size = Math.Clamp(query.PageSize, 1, 500);
        var all = await MatchingAsync(query.Filter, cancellationToken).ConfigureAwait(false);
        var ordered = Order(all, query.Sort, query.Descending);
        return new WorkflowMessagePage
        {
            Items = [.. ordered.Skip((page - 1) * size).Take(size).Select(s => s.ToSummary())],
            Total = all.Count,
            Page = page,
            PageSize = size
        };
    }

    public async Task<IReadOnlyList<WorkflowMessageGroup>> GroupsAsync(WorkflowMessageFilter filter, WorkflowGrouping grouping,
        CancellationToken cancellationToken = default)
    {
        var all = await MatchingAsync(filter, cancellationToken).ConfigureAwait(false);
        var groups = grouping == WorkflowGrouping.SourceQueue
            ? all.GroupBy(s => (Exception: (string?)null, Type: (string?)null, Source: (string?)s.SourceAddress))
            : all.GroupBy(s => (Exception: (string?)s.ExceptionType, Type: s.MessageType, Source: (string?)null));
        return
        [
            .. groups.Select(g => new WorkflowMessageGroup
            {
                ExceptionType = g.Key.Exception,
                MessageType = g.Key.Type,
                SourceAddress = g.Key.Source,
                Count = g.Count(),
                FirstReceivedAt = g.Min(s => s.ReceivedAt),
                LastReceivedAt = g.Max(s => s.ReceivedAt)
            }).OrderByDescending(g => g.Count).ThenBy(g => g.ExceptionType, StringComparer.Ordinal).ThenBy(g => g.MessageType, StringComparer.Ordinal)
            .ThenBy(g => g.SourceAddress, StringComparer.Ordinal)
        ];
    }

    public async Task<IReadOnlyDictionary<string, long>> CountByStateAsync(CancellationToken cancellationToken = default)
    {
        var all = await MatchingAsync(new WorkflowMessageFilter(), cancellationToken).ConfigureAwait(false);
        return all.GroupBy(s => s.CurrentState).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
    }

    public async Task<WorkflowMessageDetails?> FindAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var saga = await load.Load(id).ConfigureAwait(false);
        if (saga is null)
            return null;
        var (body, isBase64) = WorkflowBody.ToText(saga.Body);
        return new WorkflowMessageDetails
        {
            Found = true,
            Summary = saga.ToSummary(),
            Body = body,
            BodyIsBase64 = isBase64,
            ContentType = saga.ContentType,
            Headers = new Dictionary<string, string>(saga.ReadHeaders()),
            ExceptionDetail = saga.ExceptionDetail,
            Malformed = saga.Malformed,
            Audit = [.. saga.ReadAudit()],
            Version = saga.Version,
            MaxRepairAttempts = saga.MaxRepairAttempts,
            Attempt = saga.Attempt,
            ResubmittedBy = saga.ResubmittedBy,
            ResolvedAt = saga.ResolvedAt,
            HoldKey = saga.HoldKey,
            HeldCount = saga.HeldCount
        };
    }

    public async Task<IReadOnlyList<Guid>> IdsAsync(WorkflowMessageFilter filter, int limit, CancellationToken cancellationToken = default)
    {
        var all = await MatchingAsync(filter, cancellationToken).ConfigureAwait(false);
        return [.. all.OrderBy(s => s.ReceivedAt).ThenBy(s => s.CorrelationId).Take(Math.Max(0, limit)).Select(s => s.CorrelationId)];
    }

    async Task<List<WorkflowEventState>> MatchingAsync(WorkflowMessageFilter? filter, CancellationToken cancellationToken)
    {
        filter ??= new WorkflowMessageFilter();
        var ids = await query.Find(new SagaQuery<WorkflowEventState>(_ => true)).ConfigureAwait(false);
        var found = new List<WorkflowEventState>();
        foreach (var id in ids)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (await load.Load(id).ConfigureAwait(false) is { } saga && Matches(saga, filter))
                found.Add(saga);
        }
        return found;
    }

    static bool Matches(WorkflowEventState s, WorkflowMessageFilter f) =>
        (f.State is null || s.CurrentState == f.State)
        && (f.MessageType is null || s.MessageType == f.MessageType)
        && (f.ExceptionType is null || s.ExceptionType == f.ExceptionType)
        && (f.SourceAddress is null || s.SourceAddress == f.SourceAddress)
        && (f.From is null || s.ReceivedAt >= f.From)
        && (f.To is null || s.ReceivedAt < f.To)
        && (string.IsNullOrEmpty(f.Search)
            || s.ExceptionMessage.Contains(f.Search, StringComparison.OrdinalIgnoreCase)
            || Utf8.GetString(s.Body).Contains(f.Search, StringComparison.OrdinalIgnoreCase));

    static IEnumerable<WorkflowEventState> Order(List<WorkflowEventState> all, WorkflowMessageSort sort, bool descending)
    {
        IOrderedEnumerable<WorkflowEventState> ordered = sort switch
        {
            WorkflowMessageSort.UpdatedAt => By(all, s => s.UpdatedAt, descending),
            WorkflowMessageSort.State => By(all, s => s.CurrentState, descending),
            WorkflowMessageSort.MessageType => By(all, s => s.MessageType ?? "", descending),
            WorkflowMessageSort.ExceptionType => By(all, s => s.ExceptionType, descending),
            WorkflowMessageSort.SourceAddress => By(all, s => s.SourceAddress, descending),
            WorkflowMessageSort.Failures => By(all, s => s.Failures, descending),
            _ => By(all, s => s.ReceivedAt, descending)
        };
        return descending ? ordered.ThenByDescending(s => s.CorrelationId) : ordered.ThenBy(s => s.CorrelationId);
    }

    static IOrderedEnumerable<WorkflowEventState> By<TKey>(List<WorkflowEventState> all, Func<WorkflowEventState, TKey> key, bool descending) =>
        descending ? all.OrderByDescending(key, Comparer<TKey>.Default) : all.OrderBy(key, Comparer<TKey>.Default);
}
