using System.Diagnostics;
using System.Text;
using HdrHistogram;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using static MassTransit.Patterns.Benchmarks.Infrastructure.WorkflowTableSeed;

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    /// <summary>
    /// The repair console's reads on PostgreSQL (whatever the transport: no bus is involved): 100,000 workflow rows
    /// (binary COPY) spread over 30 days, 6 states, 12 exception types, 20 message types and 10 queues with skewed
    /// shares; then, through <see cref="IWorkflowMessageStore"/> (the EF Core store, a scope and a DbContext per call, as
    /// a web request has): a page of 50 filtered by state and exception type, first page and a deep one (the count of the
    /// total included); one message in full; the group counts. Every call is timed end to end into a histogram.
    /// <c>list_p95_ms</c>: first and deep pages together; <c>list_deep_page_p95_ms</c>: deep pages alone (plus an
    /// unfiltered page 1,500 of the whole table); <c>inspect_p95_ms</c>: <c>FindAsync</c> of random ids;
    /// <c>group_counts_ms</c>: the median of the exception and message type groups over every row.
    /// </summary>
    public sealed class DashboardScenario : IBenchScenario
    {
        const int Rows = 100_000;
        const int PageSize = 50;

        public string Name => "dashboard";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var iterations = context.Quick ? 60 : 300;
            await using var database = await ThrowawayDatabase<DashboardBenchDb>.CreateAsync(true, "bench_dash", o => new DashboardBenchDb(o),
                cancellationToken: cancellationToken);
            var watch = Stopwatch.StartNew();
            var ids = await InsertAsync(database, cancellationToken);
            var insertSeconds = watch.Elapsed.TotalSeconds;
            context.Progress($"{Rows} rows copied and analyzed in {insertSeconds:0.0} s");

            await using var provider = new ServiceCollection()
                .AddDbContext<DashboardBenchDb>(database.Configure)
                .AddPatternsEntityFrameworkWorkflowStore<DashboardBenchDb>()
                .BuildServiceProvider(true);
            var store = provider.GetRequiredService<IWorkflowMessageStore>();
            var random = new Random(20);

            // The filtered lists: waiting messages of one exception type, newest first (the console's default order).
            var filters = Enumerable.Range(0, 4).Select(e => new WorkflowMessageFilter { State = "AwaitingPerson", ExceptionType = ExceptionType(e) }).ToArray();
            var totals = new long[filters.Length];
            for (var f = 0; f < filters.Length; f++)
                totals[f] = (await store.ListAsync(new WorkflowMessageQuery { Filter = filters[f], PageSize = PageSize }, cancellationToken)).Total;
            context.Progress($"filtered lists: {string.Join(", ", totals)} rows; deep pages at 80% of each");

            // Warm-up: EF compiles each query shape once; PostgreSQL caches the plans and the pages.
            for (var i = 0; i < 10; i++)
            {
                await store.ListAsync(new WorkflowMessageQuery { Filter = filters[i % filters.Length], PageSize = PageSize }, cancellationToken);
                await store.FindAsync(ids[random.Next(ids.Length)], cancellationToken);
                await store.GroupsAsync(new WorkflowMessageFilter(), WorkflowGrouping.ExceptionAndMessageType, cancellationToken);
            }

            var list = Histogram();
            var first = Histogram();
            var deep = Histogram();
            var deepUnfiltered = Histogram();
            for (var i = 0; i < iterations; i++)
            {
                var f = i % filters.Length;
                var lastPage = (int)Math.Max(1, (totals[f] + PageSize - 1) / PageSize);
                var firstQuery = new WorkflowMessageQuery { Filter = filters[f], PageSize = PageSize };
                var deepQuery = firstQuery with { Page = Math.Max(1, lastPage * 4 / 5) };
                var ms = await TimeAsync(() => store.ListAsync(firstQuery, cancellationToken));
                first.RecordValue(ms);
                list.RecordValue(ms);
                ms = await TimeAsync(() => store.ListAsync(deepQuery, cancellationToken));
                deep.RecordValue(ms);
                list.RecordValue(ms);
                if (i % 4 == 0)
                    deepUnfiltered.RecordValue(await TimeAsync(() => store.ListAsync(new WorkflowMessageQuery { Page = 1_500, PageSize = PageSize }, cancellationToken)));
            }
            context.Progress($"list p95 {P95(list):0.0} ms (first {P95(first):0.0}, deep {P95(deep):0.0}, unfiltered page 1,500 {P95(deepUnfiltered):0.0})");

            var inspect = Histogram();
            for (var i = 0; i < iterations * 2; i++)
            {
                var id = ids[random.Next(ids.Length)];
                inspect.RecordValue(await TimeAsync(() => store.FindAsync(id, cancellationToken)));
            }
            context.Progress($"inspect p95 {P95(inspect):0.0} ms");

            var groups = Histogram();
            var byQueue = Histogram();
            var counts = Histogram();
            var groupCount = 0;
            for (var i = 0; i < (context.Quick ? 10 : 30); i++)
            {
                groups.RecordValue(await TimeAsync(async () => groupCount = (await store.GroupsAsync(new WorkflowMessageFilter(), WorkflowGrouping.ExceptionAndMessageType,
                    cancellationToken)).Count));
                byQueue.RecordValue(await TimeAsync(() => store.GroupsAsync(new WorkflowMessageFilter { State = "AwaitingPerson" }, WorkflowGrouping.SourceQueue,
                    cancellationToken)));
                counts.RecordValue(await TimeAsync(() => store.CountByStateAsync(cancellationToken)));
            }
            context.Progress($"groups: {groupCount} exception+message type groups in {Ms(groups.GetValueAtPercentile(50)):0.0} ms (median), "
                             + $"waiting by queue {Ms(byQueue.GetValueAtPercentile(50)):0.0} ms, counts per state {Ms(counts.GetValueAtPercentile(50)):0.0} ms");

            return new BenchResult(Name, context.Transport)
                .Parameter("rows", Rows)
                .Parameter("page_size", PageSize)
                .Parameter("iterations", iterations)
                .Parameter("database", "postgresql")
                .Parameter("list_filter", "State=AwaitingPerson, ExceptionType=one of the 4 commonest; ReceivedAt descending; deep page at 80%")
                .Metric("rows", Rows)
                .Metric("insert_s", insertSeconds)
                .Metric("list_p95_ms", P95(list))
                .Metric("list_first_page_p95_ms", P95(first))
                .Metric("list_deep_page_p95_ms", P95(deep))
                .Metric("list_deep_page_unfiltered_p95_ms", P95(deepUnfiltered))
                .Metric("inspect_p95_ms", P95(inspect))
                .Metric("group_counts_ms", Ms(groups.GetValueAtPercentile(50)))
                .Metric("group_counts_p95_ms", P95(groups))
                .Metric("group_by_queue_ms", Ms(byQueue.GetValueAtPercentile(50)))
                .Metric("state_counts_ms", Ms(counts.GetValueAtPercentile(50)));
        }

        static LongHistogram Histogram() => new(1, TimeSpan.FromMinutes(1).Ticks / 10, 3);

        /// <summary>Microseconds of one call.</summary>
        static async Task<long> TimeAsync(Func<Task> call)
        {
            var started = Stopwatch.GetTimestamp();
            await call();
            return Math.Max(1, (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }

        static double Ms(long microseconds) => microseconds / 1000.0;

        static double P95(LongHistogram histogram) => Ms(histogram.GetValueAtPercentile(95));

        /// <summary>Copies the rows in (binary COPY), then ANALYZE; returns their ids.</summary>
        static async Task<Guid[]> InsertAsync(ThrowawayDatabase<DashboardBenchDb> database, CancellationToken cancellationToken)
        {
            await using var db = database.Open();
            var connection = (NpgsqlConnection)db.Database.GetDbConnection();
            await connection.OpenAsync(cancellationToken);
            var random = new Random(7);
            var now = DateTimeOffset.UtcNow;
            var ids = new Guid[Rows];
            var details = WorkflowTableSeed.Details(12);
            await using (var writer = await connection.BeginBinaryImportAsync(WorkflowTableSeed.Copy, cancellationToken))
            {
                for (var i = 0; i < Rows; i++)
                {
                    var id = ids[i] = NewId.NextGuid();
                    var state = State(random);
                    var exception = Skewed(random, 12);
                    var messageType = MessageType(Skewed(random, 20));
                    var queue = Queue(Skewed(random, 10));
                    var received = now - TimeSpan.FromSeconds(random.NextDouble() * 30 * 24 * 3600);
                    var updated = received + TimeSpan.FromSeconds(random.Next(1, 3600));
                    var resolved = state is "Completed" or "Discarded";
                    var body = $$"""{"messageId":"{{id}}","messageType":["{{messageType}}"],"message":{"orderId":"{{Guid.NewGuid()}}","customer":"customer-{{random.Next(50_000)}}","lines":[{"sku":"SKU-{{random.Next(9_999)}}","quantity":{{random.Next(-3, 20)}},"price":{{random.Next(1, 500)}}.95}],"currency":"EUR"},"sentTime":"{{received:O}}"}""";
                    var audit = $$"""[{"at":"{{received:O}}","actor":"system","action":"failed","detail":"attempt 0: {{ExceptionType(exception)}}: quantity below one"},{"at":"{{updated:O}}","actor":"system","action":"waiting","detail":"no repairer could repair it"}]""";

                    await WorkflowTableSeed.WriteRowAsync(writer, new WorkflowSeedRow(
                        id,
                        2 + random.Next(6),
                        state,
                        messageType,
                        queue,
                        body,
                        "{\"MT-Host-MachineName\":\"shop-1\",\"MT-Host-ProcessName\":\"Shop.Orders\"}",
                        ExceptionType(exception),
                        $"Order line {random.Next(1, 5)} is invalid: quantity below one ({exception})",
                        details[exception],
                        1 + random.Next(4),
                        random.Next(4),
                        random.Next(4),
                        received,
                        updated,
                        resolved ? updated : null,
                        2,
                        audit), cancellationToken);
                }
                await writer.CompleteAsync(cancellationToken);
            }
            // A table of failed messages in steady state: autovacuum has set its visibility map and statistics.
            await db.Database.ExecuteSqlRawAsync("VACUUM ANALYZE \"WorkflowEvents\"", cancellationToken);
            return ids;
        }
    }

    /// <summary>The application's DbContext of the benchmark: the workflow rows only.</summary>
    public sealed class DashboardBenchDb(DbContextOptions<DashboardBenchDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities();
    }
}
