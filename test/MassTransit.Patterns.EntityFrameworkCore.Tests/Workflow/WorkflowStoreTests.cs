using System.Text;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Workflow;

/// <summary>
/// The EF Core workflow store on SQLite and PostgreSQL: every filter, sort (both directions), paging, search, grouping and
/// count is computed by the database and matches the same question asked of the seeded rows in memory.
/// </summary>
public sealed class WorkflowStoreTests
{
    const string Parcels = "rabbitmq://localhost/parcels";
    const string Orders = "rabbitmq://localhost/orders";
    const string BadParcel = "App.BadParcelException";
    const string Timeout = "App.TimeoutException";
    const string TypeA = "urn:message:App:ShipParcel";
    const string TypeB = "urn:message:App:TrackParcel";

    static readonly DateTimeOffset Start = new(2026, 11, 30, 9, 0, 0, TimeSpan.Zero);

    sealed class Seeded : IAsyncDisposable
    {
        public required ThrowawayDatabase<WorkflowDb> Database { get; init; }
        public required ServiceProvider Provider { get; init; }
        public required List<WorkflowEventState> Rows { get; init; }
        public IWorkflowMessageStore Store => Provider.GetRequiredService<IWorkflowMessageStore>();

        public async ValueTask DisposeAsync()
        {
            await Provider.DisposeAsync();
            await Database.DisposeAsync();
        }
    }

    /// <summary>
    /// 41 rows: 4 states, 2 exception types, 2 message types and malformed (null), 2 queues; received a minute apart
    /// (rows 10-12 at the same instant, so ties show), updated in the reverse order; failures 1-5.
    /// Row 7's body holds a non-ASCII token, row 20's exception message mixed case text.
    /// </summary>
    static List<WorkflowEventState> Rows()
    {
        string[] states = ["AwaitingPerson", "Completed", "Discarded", "Resubmitted"];
        var rows = new List<WorkflowEventState>();
        for (var i = 0; i < 41; i++)
        {
            var received = i is >= 10 and <= 12 ? Start.AddMinutes(10) : Start.AddMinutes(i).AddMilliseconds(i % 3 == 0 ? 0 : 123 * i);
            var body = i == 7 ? "{\"message\":{\"note\":\"needle-äß\"}}" : $"{{\"message\":{{\"parcel\":\"parcel-{i}\"}}}}";
            rows.Add(new WorkflowEventState
            {
                CorrelationId = NewId.NextGuid(),
                Version = 1 + i % 4,
                CurrentState = states[i % 4],
                MessageType = (i % 3) switch { 0 => TypeA, 1 => TypeB, _ => null },
                MessageTypes = (i % 3) switch { 0 => TypeA, 1 => TypeB, _ => "" },
                SourceAddress = i % 5 == 0 ? Orders : Parcels,
                ContentType = "application/vnd.masstransit+json",
                Body = Encoding.UTF8.GetBytes(body),
                Headers = "{\"MT-Host-MachineName\":\"box\"}",
                Malformed = i % 3 == 2,
                ExceptionType = i % 2 == 0 ? BadParcel : Timeout,
                ExceptionMessage = i == 20 ? "Weight Too HIGH for the van" : $"failure {i}",
                ExceptionDetail = $"at Parcels.Ship() line {i}",
                Failures = 1 + i % 5,
                RepairAttempts = i % 3,
                MaxRepairAttempts = 3,
                Attempt = i % 3,
                ResubmittedBy = i % 3 == 0 ? null : "person:alice",
                ReceivedAt = received,
                UpdatedAt = Start.AddHours(2).AddSeconds(-i * 7),
                ResolvedAt = states[i % 4] is "Completed" or "Discarded" ? Start.AddHours(3) : null,
                HoldKey = i == 3 ? "parcel-3" : null,
                HeldCount = i == 3 ? 2 : 0,
                AuditCount = 1,
                Audit = $"[{{\"at\":\"{received:O}\",\"actor\":\"system\",\"action\":\"failed\",\"detail\":\"attempt 0\"}}]"
            });
        }
        return rows;
    }

    static async Task<Seeded> SeedAsync(Store store)
    {
        var database = await ThrowawayDatabase<WorkflowDb>.CreateAsync(store == Store.PostgreSql, "wf_store", o => new WorkflowDb(o));
        var rows = Rows();
        await using (var db = database.Open())
        {
            db.Set<WorkflowEventState>().AddRange(rows);
            await db.SaveChangesAsync();
        }
        var provider = new ServiceCollection().AddDbContext<WorkflowDb>(database.Configure).AddPatternsEntityFrameworkWorkflowStore<WorkflowDb>()
            .BuildServiceProvider(true);
        return new Seeded { Database = database, Provider = provider, Rows = rows };
    }

    static IEnumerable<WorkflowEventState> Oracle(IEnumerable<WorkflowEventState> rows, WorkflowMessageFilter f) =>
        rows.Where(x => (f.State is null || x.CurrentState == f.State)
                        && (f.MessageType is null || x.MessageType == f.MessageType)
                        && (f.ExceptionType is null || x.ExceptionType == f.ExceptionType)
                        && (f.SourceAddress is null || x.SourceAddress == f.SourceAddress)
                        && (f.From is null || x.ReceivedAt >= f.From)
                        && (f.To is null || x.ReceivedAt < f.To)
                        && (f.Search is null || x.ExceptionMessage.Contains(f.Search, StringComparison.OrdinalIgnoreCase)
                            || Encoding.UTF8.GetString(x.Body).Contains(f.Search, StringComparison.Ordinal)));

    static IOrderedEnumerable<WorkflowEventState> OracleOrder(IEnumerable<WorkflowEventState> rows, WorkflowMessageSort sort, bool descending)
    {
        Func<WorkflowEventState, object?> key = sort switch
        {
            WorkflowMessageSort.ReceivedAt => x => x.ReceivedAt,
            WorkflowMessageSort.UpdatedAt => x => x.UpdatedAt,
            WorkflowMessageSort.State => x => x.CurrentState,
            WorkflowMessageSort.MessageType => x => x.MessageType,
            WorkflowMessageSort.ExceptionType => x => x.ExceptionType,
            WorkflowMessageSort.SourceAddress => x => x.SourceAddress,
            _ => x => x.Failures
        };
        var comparer = Comparer<object?>.Create((a, b) => a is string sa && b is string sb ? string.CompareOrdinal(sa, sb) : Comparer<object?>.Default.Compare(a, b));
        return descending
            ? rows.OrderByDescending(key, comparer).ThenByDescending(x => x.CorrelationId)
            : rows.OrderBy(key, comparer).ThenBy(x => x.CorrelationId);
    }

    public static TheoryData<Store> Stores => new() { Store.Sqlite, Store.PostgreSql };

    public static TheoryData<Store, WorkflowMessageSort, bool> Sorts()
    {
        var data = new TheoryData<Store, WorkflowMessageSort, bool>();
        foreach (var store in new[] { Store.Sqlite, Store.PostgreSql })
            foreach (var sort in Enum.GetValues<WorkflowMessageSort>())
                foreach (var descending in new[] { false, true })
                    data.Add(store, sort, descending);
        return data;
    }

    [Theory]
    [MemberData(nameof(Sorts))]
    public async Task Each_sort_in_each_direction_orders_the_whole_list_as_its_column_with_ties_broken_by_id(Store store, WorkflowMessageSort sort, bool descending)
    {
        await using var seeded = await SeedAsync(store);

        var page = await seeded.Store.ListAsync(new WorkflowMessageQuery { Sort = sort, Descending = descending, PageSize = 500 });

        var expected = OracleOrder(seeded.Rows, sort, descending).ToList();
        Assert.Equal(seeded.Rows.Count, page.Total);
        if (sort == WorkflowMessageSort.MessageType)
        {
            // Where nulls (malformed bodies) go is the database's: first on SQLite, last on PostgreSQL. The rest is in order.
            Assert.Equal(expected.Where(x => x.MessageType is not null).Select(x => x.CorrelationId),
                page.Items.Where(x => x.MessageType is not null).Select(x => x.CorrelationId));
            var nulls = page.Items.Select((x, i) => (x, i)).Where(p => p.x.MessageType is null).Select(p => p.i).ToList();
            Assert.Equal(expected.Count(x => x.MessageType is null), nulls.Count);
            Assert.True(nulls[0] == 0 || nulls[^1] == page.Items.Count - 1, "the nulls are together at one end");
            Assert.Equal(nulls.Count - 1, nulls[^1] - nulls[0]);
        }
        else
            Assert.Equal(expected.Select(x => x.CorrelationId), page.Items.Select(x => x.CorrelationId));
    }

    public static TheoryData<Store, string> Filters()
    {
        var data = new TheoryData<Store, string>();
        foreach (var store in new[] { Store.Sqlite, Store.PostgreSql })
            foreach (var name in FilterCases.Keys)
                data.Add(store, name);
        return data;
    }

    static readonly Dictionary<string, WorkflowMessageFilter> FilterCases = new()
    {
        ["state"] = new() { State = "AwaitingPerson" },
        ["message type"] = new() { MessageType = TypeB },
        ["exception type"] = new() { ExceptionType = Timeout },
        ["source queue"] = new() { SourceAddress = Orders },
        ["from"] = new() { From = Start.AddMinutes(10) },
        ["to"] = new() { To = Start.AddMinutes(10) },
        ["time range, offset not UTC"] = new() { From = Start.AddMinutes(5).ToOffset(TimeSpan.FromHours(2)), To = Start.AddMinutes(30).ToOffset(TimeSpan.FromHours(-5)) },
        ["search in body, non-ASCII"] = new() { Search = "needle-äß" },
        ["search in exception message, any case"] = new() { Search = "too high" },
        ["search in both, with state"] = new() { Search = "parcel-2", State = "Discarded" },
        ["all at once"] = new() { State = "Resubmitted", ExceptionType = Timeout, SourceAddress = Parcels, From = Start, To = Start.AddHours(1) }
    };

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task Each_filter_selects_exactly_the_rows_it_names_and_the_total_counts_them(Store store, string name)
    {
        await using var seeded = await SeedAsync(store);
        var filter = FilterCases[name];

        var page = await seeded.Store.ListAsync(new WorkflowMessageQuery { Filter = filter, PageSize = 500, Descending = false });

        var expected = OracleOrder(Oracle(seeded.Rows, filter), WorkflowMessageSort.ReceivedAt, false).Select(x => x.CorrelationId).ToList();
        Assert.NotEmpty(expected);
        Assert.True(expected.Count < seeded.Rows.Count, $"the filter '{name}' leaves rows out");
        Assert.Equal(expected, page.Items.Select(x => x.CorrelationId));
        Assert.Equal(expected.Count, page.Total);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Pages_split_the_order_without_gaps_or_repeats_the_deep_page_is_partial_and_past_the_end_is_empty(Store store)
    {
        await using var seeded = await SeedAsync(store);
        var filter = new WorkflowMessageFilter { ExceptionType = BadParcel };
        var expected = OracleOrder(Oracle(seeded.Rows, filter), WorkflowMessageSort.ReceivedAt, true).Select(x => x.CorrelationId).ToList();

        var pages = new List<WorkflowMessagePage>();
        for (var p = 1; p <= 4; p++)
            pages.Add(await seeded.Store.ListAsync(new WorkflowMessageQuery { Filter = filter, Page = p, PageSize = 6 }));
        var beyond = await seeded.Store.ListAsync(new WorkflowMessageQuery { Filter = filter, Page = 50, PageSize = 6 });

        Assert.Equal(21, expected.Count);
        Assert.All(pages, p => Assert.Equal(21, p.Total));
        Assert.Equal([6, 6, 6, 3], pages.Select(p => p.Items.Count));
        Assert.Equal(expected, pages.SelectMany(p => p.Items).Select(x => x.CorrelationId));
        Assert.Equal([1, 2, 3, 4], pages.Select(p => p.Page));
        Assert.Empty(beyond.Items);
        Assert.Equal(21, beyond.Total);
        var clamped = await seeded.Store.ListAsync(new WorkflowMessageQuery { Page = 0, PageSize = 10_000 });
        Assert.Equal((1, 500), (clamped.Page, clamped.PageSize));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Groups_by_exception_and_message_type_and_by_source_queue_count_the_rows_with_their_first_and_last_time_largest_first(Store store)
    {
        await using var seeded = await SeedAsync(store);
        var within = new WorkflowMessageFilter { State = "AwaitingPerson" };

        var byType = await seeded.Store.GroupsAsync(new WorkflowMessageFilter(), WorkflowGrouping.ExceptionAndMessageType);
        var byQueue = await seeded.Store.GroupsAsync(within, WorkflowGrouping.SourceQueue);

        var expectedByType = seeded.Rows.GroupBy(x => (x.ExceptionType, x.MessageType))
            .Select(g => new WorkflowMessageGroup
            {
                ExceptionType = g.Key.ExceptionType, MessageType = g.Key.MessageType, Count = g.Count(), FirstReceivedAt = g.Min(x => x.ReceivedAt),
                LastReceivedAt = g.Max(x => x.ReceivedAt)
            });
        var expectedByQueue = Oracle(seeded.Rows, within).GroupBy(x => x.SourceAddress)
            .Select(g => new WorkflowMessageGroup
            {
                SourceAddress = g.Key, Count = g.Count(), FirstReceivedAt = g.Min(x => x.ReceivedAt), LastReceivedAt = g.Max(x => x.ReceivedAt)
            });
        Assert.Equal(6, byType.Count);
        Assert.Equal(expectedByType.OrderBy(g => g.ExceptionType).ThenBy(g => g.MessageType), byType.OrderBy(g => g.ExceptionType).ThenBy(g => g.MessageType));
        Assert.Equal(expectedByQueue.OrderByDescending(g => g.Count), byQueue);
        Assert.Equal(byType.Select(g => g.Count).OrderDescending(), byType.Select(g => g.Count));
        Assert.Equal(seeded.Rows.Count, byType.Sum(g => g.Count));

        // A group is listed by its filter: the same rows it counted.
        var group = byQueue[0];
        var listed = await seeded.Store.ListAsync(new WorkflowMessageQuery { Filter = group.ToFilter(within), PageSize = 500 });
        Assert.Equal(group.Count, listed.Total);
        Assert.All(listed.Items, x => Assert.Equal(("AwaitingPerson", group.SourceAddress), (x.State, x.SourceAddress?.ToString())));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Counts_per_state_cover_every_row_and_ids_of_a_filter_come_oldest_first_up_to_the_limit(Store store)
    {
        await using var seeded = await SeedAsync(store);

        var counts = await seeded.Store.CountByStateAsync();
        var filter = new WorkflowMessageFilter { State = "AwaitingPerson" };
        var ids = await seeded.Store.IdsAsync(filter, 4);

        Assert.Equal(seeded.Rows.GroupBy(x => x.CurrentState).Select(g => (g.Key, (long)g.Count())).OrderBy(c => c.Key),
            counts.Select(c => (c.Key, c.Value)).OrderBy(c => c.Key));
        Assert.Equal(OracleOrder(Oracle(seeded.Rows, filter), WorkflowMessageSort.ReceivedAt, false).Take(4).Select(x => x.CorrelationId), ids);
        Assert.Empty(await seeded.Store.IdsAsync(filter, 0));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Find_returns_one_message_in_full_and_null_for_an_unknown_id(Store store)
    {
        await using var seeded = await SeedAsync(store);
        var row = seeded.Rows[3];

        var details = await seeded.Store.FindAsync(row.CorrelationId);

        Assert.NotNull(details);
        Assert.True(details.Found);
        Assert.Equal(row.CorrelationId, details.Summary!.CorrelationId);
        Assert.Equal(Encoding.UTF8.GetString(row.Body), details.Body);
        Assert.False(details.BodyIsBase64);
        Assert.Equal("box", details.Headers["MT-Host-MachineName"]);
        Assert.Equal(row.ExceptionDetail, details.ExceptionDetail);
        Assert.Equal(row.Version, details.Version);
        Assert.Equal((3, row.Attempt, row.ResubmittedBy, "parcel-3", 2), (details.MaxRepairAttempts, details.Attempt, details.ResubmittedBy, details.HoldKey, details.HeldCount));
        Assert.Equal(row.ResolvedAt, details.ResolvedAt);
        Assert.Equal(row.ReceivedAt, details.Summary.ReceivedAt);
        var audit = Assert.Single(details.Audit);
        Assert.Equal(("system", "failed"), (audit.Actor, audit.Action));
        Assert.Null(await seeded.Store.FindAsync(Guid.NewGuid()));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task The_indexes_the_screens_read_by_are_created_with_the_table(Store store)
    {
        await using var seeded = await SeedAsync(store);
        await using var db = seeded.Database.Open();

        var sql = store == Store.Sqlite
            ? "SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'index' AND tbl_name = 'WorkflowEvents'"
            : "SELECT indexname AS \"Value\" FROM pg_indexes WHERE tablename = 'WorkflowEvents'";
        var indexes = await db.Database.SqlQueryRaw<string>(sql).ToListAsync();

        Assert.Subset(indexes.ToHashSet(), new HashSet<string>
        {
            "IX_WorkflowEvents_State_ReceivedAt", "IX_WorkflowEvents_State_ExceptionType",
            "IX_WorkflowEvents_ExceptionType_MessageType", "IX_WorkflowEvents_MessageType",
            "IX_WorkflowEvents_SourceAddress", "IX_WorkflowEvents_ReceivedAt", "IX_WorkflowEvents_UpdatedAt"
        });
    }
}
