using System.Diagnostics;
using System.Text;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using static MassTransit.Patterns.Benchmarks.Infrastructure.WorkflowTableSeed;
using static MassTransit.Patterns.Benchmarks.Scenarios.Scale.CurveFigures;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale
{
    /// <summary>
    /// <c>workflow</c>: the workflow table in PostgreSQL holds N rows (1,000 → 1,000,000, copied in with binary COPY, then
    /// VACUUM ANALYZE, never through the bus), with the dashboard benchmark's mix: 24 % waiting for a person, 55 % completed,
    /// 15 % discarded, the rest in flight; 12 exception types, 20 message types, 10 queues, skewed. At each size, through the
    /// EF Core store (a scope and a DbContext per call, as a web request has):
    /// <c>list_p95_ms</c>: the person API's filtered list (state AwaitingPerson and one of the four commonest exception types,
    /// newest first, 50 a page, its total counted in the same call), first page and a page at 80 %;
    /// <c>count_p95_ms</c>: the counts per state (the console's header); <c>handoff_p99_ms</c>: a failing message's hand-off
    /// through the bus to the workflow processor until its row waits for a person in that table (the EF saga repository);
    /// <c>sweep_ms</c>: the retention service removing the 1 % of rows resolved 40 days ago, and <c>sweep_idle_ms</c>: the
    /// same sweep again with nothing left to remove (what every interval costs in steady state).
    /// </summary>
    public sealed class WorkflowScaleCurve : IScaleCurve
    {
        const int PageSize = 50;

        public string Pattern => "workflow";

        public string Unit => "rows in the workflow table (PostgreSQL)";

        public IReadOnlyList<long> Steps(BenchContext context) => context.Quick ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000];

        public async Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken)
        {
            var figures = new Dictionary<string, double>(StringComparer.Ordinal);
            await using var database = await ThrowawayDatabase<WorkflowScaleDb>.CreateAsync(true, "scale_wf", o => new WorkflowScaleDb(o),
                cancellationToken: cancellationToken);
            var watch = Stopwatch.StartNew();
            await InsertAsync(database, (int)size, cancellationToken);
            figures["seed_s"] = watch.Elapsed.TotalSeconds;
            context.Progress($"workflow {N(size)}: rows copied and analyzed in {watch.Elapsed.TotalSeconds:0.0} s (load {LoadAverage():0.00})");

            var services = new ServiceCollection()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Critical))
                .AddMetrics()
                .AddDbContext<WorkflowScaleDb>(database.Configure)
                .AddPatternsEntityFrameworkWorkflowStore<WorkflowScaleDb>()
                .AddWorkflowEventRetention<WorkflowScaleDb>();
            var queue = $"scale-wf-{Guid.NewGuid():N}"[..24];
            var repairQueue = queue + "-repair";
            services.AddMassTransit(x =>
            {
                x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue)
                    .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowScaleDb>());
                x.AddConsumer<FailingConsumer>().Endpoint(e => e.Name = queue);
                x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                {
                    if (name == queue)
                        cfg.UseWorkflowEvent(ctx, o =>
                        {
                            o.RepairAddress = new Uri($"exchange:{repairQueue}");
                            o.Delegate<InvalidOrderException>();
                        });
                });
                context.UseTransport(x);
            });
            await using var provider = services.BuildServiceProvider(true);
            var store = provider.GetRequiredService<IWorkflowMessageStore>();
            var iterations = context.Quick ? 30 : 100;

            // The person API's filtered list: waiting messages of one exception type, newest first, with its total.
            var filters = Enumerable.Range(0, 4).Select(e => new WorkflowMessageFilter { State = Waiting, ExceptionType = ExceptionType(e) }).ToArray();
            var totals = new long[filters.Length];
            for (var f = 0; f < filters.Length; f++)
                totals[f] = (await store.ListAsync(new WorkflowMessageQuery { Filter = filters[f], PageSize = PageSize, Descending = true }, cancellationToken)).Total;
            for (var i = 0; i < 8; i++)
            {
                await store.ListAsync(new WorkflowMessageQuery { Filter = filters[i % filters.Length], PageSize = PageSize, Descending = true }, cancellationToken);
                await store.CountByStateAsync(cancellationToken);
            }
            var list = Histogram();
            var deep = Histogram();
            var counts = Histogram();
            for (var i = 0; i < iterations; i++)
            {
                var f = i % filters.Length;
                var first = new WorkflowMessageQuery { Filter = filters[f], PageSize = PageSize, Descending = true };
                var lastPage = (int)Math.Max(1, (totals[f] + PageSize - 1) / PageSize);
                list.RecordValue(await TimeAsync(() => store.ListAsync(first, cancellationToken)));
                var ms = await TimeAsync(() => store.ListAsync(first with { Page = Math.Max(1, lastPage * 4 / 5) }, cancellationToken));
                list.RecordValue(ms);
                deep.RecordValue(ms);
                counts.RecordValue(await TimeAsync(() => store.CountByStateAsync(cancellationToken)));
            }
            figures["list_p95_ms"] = Ms(list, 95);
            figures["list_deep_page_p95_ms"] = Ms(deep, 95);
            figures["count_p95_ms"] = Ms(counts, 95);
            figures["list_rows_filtered"] = totals[0];
            context.Progress($"workflow {N(size)}: list p95 {Ms(list, 95):0.0} ms (deep {Ms(deep, 95):0.0}), counts per state p95 {Ms(counts, 95):0.0} ms, "
                             + $"commonest filter {N(totals[0])} rows (load {LoadAverage():0.00})");

            // Hand-off: one failing message at a time, sent → its row waits for a person.
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var handoff = Histogram();
            var handoffs = context.Quick ? 15 : 40;
            try
            {
                var send = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                for (var i = -3; i < handoffs; i++)
                {
                    var id = NewId.NextGuid();
                    var started = Stopwatch.GetTimestamp();
                    await send.Send(new ScaleOrder(i), c => c.MessageId = id, cancellationToken);
                    await WaitingAsync(database, id, cancellationToken);
                    if (i >= 0) // the first three warm the pipeline and the saga repository up
                        handoff.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds));
                }
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                if (context.Transport == BenchContext.RabbitMq)
                    await RabbitCleanup.DeleteEndpointsAsync([queue, repairQueue]);
            }
            figures["handoff_p50_ms"] = Ms(handoff, 50);
            figures["handoff_p99_ms"] = Ms(handoff, 99);

            // Retention: the 1 % resolved 40 days ago go; then the sweep with nothing to remove.
            var retention = provider.GetRequiredService<WorkflowEventRetentionService<WorkflowScaleDb>>();
            watch.Restart();
            var removed = await retention.RemoveExpiredAsync(cancellationToken);
            figures["sweep_ms"] = watch.Elapsed.TotalMilliseconds;
            figures["sweep_removed"] = removed;
            var idle = Histogram();
            for (var i = 0; i < 5; i++)
                idle.RecordValue(await TimeAsync(() => retention.RemoveExpiredAsync(cancellationToken)));
            figures["sweep_idle_ms"] = Ms(idle, 50);
            figures["load_avg_1m"] = LoadAverage();
            context.Progress($"workflow {N(size)}: hand-off p99 {Ms(handoff, 99):0.0} ms; sweep {figures["sweep_ms"]:0.0} ms ({removed} removed), "
                             + $"idle sweep {Ms(idle, 50):0.0} ms (load {figures["load_avg_1m"]:0.00})");
            return new ScaleStep(size, figures);
        }

        public ScaleSummary Summarize(IReadOnlyList<ScaleStep> steps)
        {
            string[] growing = ["list_p95_ms", "count_p95_ms", "handoff_p99_ms", "sweep_ms", "sweep_idle_ms"];
            var largest = steps.Max(s => s.Size);
            var figures = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                [$"list_p95_ms_{largest}"] = AtLargest(steps, "list_p95_ms"),
                [$"count_p95_ms_{largest}"] = AtLargest(steps, "count_p95_ms"),
                [$"handoff_p99_ms_{largest}"] = AtLargest(steps, "handoff_p99_ms"),
                [$"sweep_idle_ms_{largest}"] = AtLargest(steps, "sweep_idle_ms"),
                ["list_bound_ms"] = 150,
                ["list_bound_held"] = AtLargest(steps, "list_p95_ms") <= 150 ? 1 : 0
            };
            var growth = growing.ToDictionary(g => g, g => Growth(steps, g), StringComparer.Ordinal);
            var sentence = $"With {N(largest)} rows in the workflow table (PostgreSQL), the person API's filtered list (waiting, one exception type, 50 a page, "
                           + $"with its total) answers in {F(AtLargest(steps, "list_p95_ms"))} ms at p95 ({growth["list_p95_ms"]} in the rows), the counts per "
                           + $"state in {F(AtLargest(steps, "count_p95_ms"))} ms ({growth["count_p95_ms"]}), a failure reaches the table in "
                           + $"{F(AtLargest(steps, "handoff_p99_ms"))} ms at p99 ({growth["handoff_p99_ms"]}), and a retention sweep with nothing to remove "
                           + $"takes {F(AtLargest(steps, "sweep_idle_ms"))} ms ({growth["sweep_idle_ms"]}).";
            return new ScaleSummary(figures, growth, sentence);
        }

        static async Task WaitingAsync(ThrowawayDatabase<WorkflowScaleDb> database, Guid id, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            await using var db = database.Open();
            while (!await db.Set<WorkflowEventState>().AsNoTracking().AnyAsync(x => x.CorrelationId == id && x.CurrentState == Waiting, cancellationToken))
            {
                if (deadline.Elapsed > TimeSpan.FromSeconds(60))
                    throw new TimeoutException($"message {id} was not waiting for a person in the workflow table after 60 s");
                await Task.Delay(2, cancellationToken);
            }
        }

        /// <summary>Microseconds of one call.</summary>
        static async Task<long> TimeAsync(Func<Task> call)
        {
            var started = Stopwatch.GetTimestamp();
            await call();
            return Math.Max(1, (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }

        /// <summary>Copies <paramref name="rows"/> rows in (binary COPY), then VACUUM ANALYZE (the table in steady state).</summary>
        static async Task InsertAsync(ThrowawayDatabase<WorkflowScaleDb> database, int rows, CancellationToken cancellationToken)
        {
            await using var db = database.Open();
            db.Database.SetCommandTimeout(TimeSpan.FromMinutes(10));
            var connection = (NpgsqlConnection)db.Database.GetDbConnection();
            await connection.OpenAsync(cancellationToken);
            var random = new Random(7);
            var now = DateTimeOffset.UtcNow;
            var details = WorkflowTableSeed.Details(4);
            await using (var writer = await connection.BeginBinaryImportAsync(WorkflowTableSeed.Copy, cancellationToken))
            {
                writer.Timeout = TimeSpan.FromMinutes(10);
                for (var i = 0; i < rows; i++)
                {
                    var id = NewId.NextGuid();
                    var state = State(random);
                    var exception = Skewed(random, 12);
                    var messageType = MessageType(Skewed(random, 20));
                    var queue = Queue(Skewed(random, 10));
                    var resolved = state is "Completed" or "Discarded";
                    // 1 % of the resolved rows are past the 30-day retention.
                    var expired = resolved && random.Next(100) == 0;
                    var received = now - TimeSpan.FromSeconds(random.NextDouble() * 25 * 24 * 3600) - (expired ? TimeSpan.FromDays(40) : TimeSpan.Zero);
                    var updated = received + TimeSpan.FromSeconds(random.Next(1, 3600));
                    var body = $$"""{"messageId":"{{id}}","messageType":["{{messageType}}"],"message":{"orderId":"{{id}}","customer":"customer-{{random.Next(50_000)}}","quantity":{{random.Next(-3, 20)}}},"sentTime":"{{received:O}}"}""";
                    var audit = $$"""[{"at":"{{received:O}}","actor":"system","action":"failed","detail":"attempt 0: {{ExceptionType(exception)}}"}]""";

                    await WorkflowTableSeed.WriteRowAsync(writer, new WorkflowSeedRow(
                        id,
                        2 + random.Next(6),
                        state,
                        messageType,
                        queue,
                        body,
                        "{\"MT-Host-MachineName\":\"shop-1\"}",
                        ExceptionType(exception),
                        $"Order line {random.Next(1, 5)} is invalid: quantity below one ({exception})",
                        details[exception],
                        1 + random.Next(4),
                        random.Next(4),
                        random.Next(4),
                        received,
                        updated,
                        resolved ? updated : null,
                        1,
                        audit), cancellationToken);
                }
                await writer.CompleteAsync(cancellationToken);
            }
            await db.Database.ExecuteSqlRawAsync("VACUUM ANALYZE \"WorkflowEvents\"", cancellationToken);
        }

        sealed class InvalidOrderException(string message) : Exception(message);

        /// <summary>Every order fails, for a person: the hand-off is what is timed.</summary>
        sealed class FailingConsumer : IConsumer<ScaleOrder>
        {
            public Task Consume(ConsumeContext<ScaleOrder> context) => throw new InvalidOrderException($"order {context.Message.Number} is invalid");
        }
    }

    /// <summary>The application's DbContext of the workflow curve: the workflow rows only.</summary>
    public sealed class WorkflowScaleDb(DbContextOptions<WorkflowScaleDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities();
    }

    /// <summary>The workflow curve's failing message.</summary>
    public sealed record ScaleOrder(int Number);
}
