using System.Collections.Concurrent;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.FaultHost;
using MassTransit.Patterns.RabbitMQ.EventForwarding;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition.Messages
{
    /// <summary>What the ledger consumer forwards, through the outbox, for each job it applied.</summary>
    public record JobApplied(Guid JobId, string Key, int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>A job applied: one row per job message id, written in the consumer's transaction.</summary>
    public sealed class AppliedJob
    {
        public Guid MessageId { get; set; }
        public string Key { get; set; } = "";
        public int Number { get; set; }
    }

    /// <summary>The application's database: its rows, the inbox and outbox, and the workflow store.</summary>
    public sealed class CompositionDb(DbContextOptions<CompositionDb> options) : DbContext(options)
    {
        public DbSet<AppliedJob> Applied => Set<AppliedJob>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.Entity<AppliedJob>().HasKey(a => a.MessageId);
            modelBuilder.AddEventForwardingEntities();
            modelBuilder.AddWorkflowEventEntities();
        }
    }

    /// <summary>Where the ledger consumer forwards its events.</summary>
    public sealed record Downstream(Uri Address);

    /// <summary>
    /// Applies a job: writes its row and forwards <see cref="JobApplied"/> through the consume context (an outbox row), then,
    /// for a poison job, fails: its writes must go with the failure, the workflow gets the message.
    /// </summary>
    public sealed class LedgerJobConsumer(CompositionDb db, Downstream downstream) : IConsumer<Job>
    {
        public async Task Consume(ConsumeContext<Job> context)
        {
            db.Applied.Add(new AppliedJob { MessageId = context.MessageId!.Value, Key = context.Message.Key, Number = context.Message.Number });
            await db.SaveChangesAsync(context.CancellationToken);
            await context.Send(downstream.Address, new JobApplied(context.MessageId!.Value, context.Message.Key, context.Message.Number));
            if (context.Message.Poison)
                throw new PoisonJobException($"job {context.Message.Key}/{context.Message.Number} is poison (after its writes)");
        }
    }

    /// <summary>The forwarded events, by message id and by the job they report.</summary>
    public sealed class AppliedLog
    {
        public ConsumedMessages Consumed { get; } = new();
        public ConcurrentDictionary<Guid, int> ByJob { get; } = new();
    }

    public sealed class JobAppliedConsumer(AppliedLog log) : IConsumer<JobApplied>
    {
        public Task Consume(ConsumeContext<JobApplied> context)
        {
            log.Consumed.Record(context);
            log.ByJob.AddOrUpdate(context.Message.JobId, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// Event forwarding's inbox and outbox (EF Core on PostgreSQL, <c>UseEventForwarding</c>'s checks on) and the workflow
    /// event on one endpoint of the real broker, with the workflow store in the same database: a poison job's writes and
    /// forwarded event roll back with its failure and the message goes to the workflow; a fixable one is repaired,
    /// resubmitted under its id and applied once (the inbox does not mistake it for a duplicate); a duplicate send of a
    /// good job is suppressed by the inbox. Every job is accounted for (applied row, workflow store), every forwarded event
    /// (consumed downstream once per applied job, none left in the outbox), and every queue is empty. In both modes of the
    /// inbox: one transaction per message, and batched (<c>batching</c> = MaxBatchSize), where the run must have formed a
    /// batch of more than one and a poison job fails alone inside its batch.
    /// </summary>
    public sealed class OutboxAndWorkflowOnRabbitMqTests
    {
        const int Total = 120, PoisonEvery = 12;

        [Theory]
        [InlineData(true, 0)]
        [InlineData(false, 0)]
        [InlineData(true, 8)]
        [InlineData(false, 8)]
        public async Task A_poison_message_rolls_back_its_writes_and_forwarded_event_and_every_message_and_event_is_accounted_for(bool workflowFirst,
            int batching)
        {
            var batchLines = new ConcurrentQueue<string>();
            var queue = Broker.UniqueQueue("cmp-fwd-wf");
            var downstream = Broker.UniqueQueue("cmp-fwd-wf-down");
            var repairQueue = Broker.UniqueQueue("cmp-fwd-wf-repair");
            await using var database = await ThrowawayDatabase<CompositionDb>.CreateAsync(true, "cmp_fwd_wf", o => new CompositionDb(o), maxPoolSize: 40);
            var applied = new AppliedLog();
            using var suppressed = new InstrumentCount("masstransit.patterns.event_forwarding.inbox.duplicates_suppressed", "masstransit.patterns.consumer",
                nameof(LedgerJobConsumer));
            // A host: the outbox's delivery service and the inbox clean-up are hosted services, started with the bus.
            using var host = new HostBuilder().ConfigureServices(services =>
            {
                services
                    .Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true)
                    .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning).AddBatchReport(batchLines.Enqueue))
                    .AddSingleton(applied)
                    .AddSingleton(new Downstream(new Uri($"exchange:{downstream}")))
                    .AddDbContext<CompositionDb>(database.Configure);
                services.AddMassTransit(x =>
                {
                    x.AddEventForwarding(o => o.SendTimeout = TimeSpan.FromSeconds(10));
                    x.AddPatternsEntityFrameworkOutbox<CompositionDb>(o => o.DeliveryInterval = TimeSpan.FromMilliseconds(200));
                    x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).PatternsEntityFrameworkRepository(r => r.ExistingDbContext<CompositionDb>());
                    x.AddMessageRepairer<Job, FixableJobRepairer>();
                    x.AddConsumer<LedgerJobConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 8;
                    });
                    x.AddConsumer<JobAppliedConsumer>().Endpoint(e => e.Name = downstream);
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name != queue)
                            return;
                        // Either order: the outbox runs around each consumer, inside the workflow's endpoint filter.
                        void Outbox(ForwardingEndpointOptions o)
                        {
                            if (batching > 1)
                                o.Batching(b => b.MaxBatchSize = batching);
                        }

                        if (!workflowFirst)
                            cfg.UsePatternsEntityFrameworkOutbox<CompositionDb>(context, Outbox);
                        cfg.UseWorkflowEvent(context, o =>
                        {
                            o.RepairAddress = new Uri($"exchange:{repairQueue}");
                            o.Delegate<PoisonJobException>();
                        });
                        if (workflowFirst)
                            cfg.UsePatternsEntityFrameworkOutbox<CompositionDb>(context, Outbox);
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        CompositionKit.Host(cfg);
                        cfg.UseEventForwarding(context);
                        cfg.ConfigureEndpoints(context);
                    });
                });
            }).Build();
            await host.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            var provider = host.Services;
            try
            {
                // Producers send through the forwarder (confirmed); every 12th job poison, alternately fixable and not;
                // one good job sent twice under its id (a producer's resend).
                var forwarder = provider.GetRequiredService<IEventForwarder>();
                var address = new Uri($"exchange:{queue}");
                var sends = Enumerable.Range(0, Total).Select(async n =>
                {
                    var poison = n % PoisonEvery == PoisonEvery - 1;
                    var key = !poison ? "good" : n / PoisonEvery % 2 == 0 ? "fixable" : "bad";
                    return (Key: key, Id: await forwarder.Send(address, new Job(key, n, poison)));
                }).ToArray();
                var sent = await Task.WhenAll(sends);
                var good = sent.Where(s => s.Key == "good").Select(s => s.Id).ToList();
                var fixable = sent.Where(s => s.Key == "fixable").Select(s => s.Id).ToList();
                var bad = sent.Where(s => s.Key == "bad").Select(s => s.Id).ToList();
                var resent = good[good.Count / 2];
                await forwarder.Send(address, new Job("good", -1), resent);

                async Task<IReadOnlyCollection<Guid>> RowsAsync()
                {
                    await using var db = database.Open();
                    return await db.Applied.Select(a => a.MessageId).ToListAsync();
                }

                async Task<long> OutboxRowsAsync()
                {
                    await using var db = database.Open();
                    return await db.Set<OutboxEntry>().LongCountAsync();
                }

                async Task<IReadOnlyCollection<Guid>> WaitingAsync()
                {
                    await using var db = database.Open();
                    return await db.Set<WorkflowEventState>().Where(w => w.CurrentState == "AwaitingPerson").Select(w => w.CorrelationId).ToListAsync();
                }

                await new MessageAccount()
                    .Sent(sent.Select(s => s.Id))
                    .Place("applied (rows by message id)", async _ => PlaceReading.Of(await RowsAsync()), Expect.Ids(good.Concat(fixable)))
                    .Place("waiting for a person (workflow store)", async _ => PlaceReading.Of(await WaitingAsync()), Expect.Ids(bad))
                    .Copies("resent copies suppressed by the inbox", () => suppressed.Count, Expect.Exactly(1))
                    .Endpoint(queue, Expect.Empty)
                    .Endpoint(repairQueue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(120));

                // The forwarded events: one per applied job (none for a failed attempt), none left in the outbox.
                var expectedEvents = good.Count + fixable.Count;
                await new MessageAccount()
                    .Sent(expectedEvents, "JobApplied forwarded by the outbox, one per applied job")
                    .Consumed(applied.Consumed, Expect.Exactly(expectedEvents), "consumed downstream")
                    .Place("waiting in the outbox", () => OutboxRowsAsync().GetAwaiter().GetResult(), Expect.Empty)
                    .Endpoint(downstream, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(60));
                Assert.Equal(good.Concat(fixable).ToHashSet(), applied.ByJob.Keys.ToHashSet());
                Assert.All(applied.ByJob.Values, n => Assert.Equal(1, n));

                // The inbox knows each applied job once, and nothing of a job that failed.
                await using (var db = database.Open())
                {
                    var inbox = await db.Set<InboxEntry>().Select(i => i.MessageId).ToListAsync();
                    Assert.Equal(good.Count + fixable.Count, inbox.Count);
                    Assert.Equal(good.Concat(fixable).ToHashSet(), inbox.ToHashSet());
                    var repaired = await db.Set<WorkflowEventState>().Where(w => fixable.Contains(w.CorrelationId)).ToListAsync();
                    Assert.Equal(fixable.Count, repaired.Count);
                    Assert.All(repaired, w => Assert.Equal("Completed", w.CurrentState));
                }
                var batches = BatchReport.Parse(batchLines);
                CompositionKit.Print($"batching {batching}: {good.Count} good (1 resent, suppressed), {fixable.Count} repaired, {bad.Count} waiting; " +
                    $"{expectedEvents} events forwarded; batches {batches}");
                if (batching > 1)
                    Assert.True(batches.MaxSize > 1, $"batched mode formed no batch of more than one: {batches}");
                else
                    Assert.Empty(batches.Started);
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
                await CompositionKit.DeleteAsync(queue, downstream, repairQueue);
            }
        }
    }
}
