using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using HdrHistogram;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.RabbitMQ.EventForwarding;
using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>The event forwarding scenario's work: each must be applied once and forwarded once.</summary>
    public record ForwardingWork(int Number);

    /// <summary>What the work's consumer forwards downstream.</summary>
    public record ForwardingWorkDone(Guid Source, int Number);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    using Messages;

    /// <summary>
    /// <c>event-forwarding</c>: a producer sends work, a consumer applies each (a row in PostgreSQL on
    /// RabbitMQ, SQLite in memory) and forwards an event downstream. The same faults hit every variant:
    /// 1% of the messages are sent twice with one message id (a resend after a lost confirmation) and 1%
    /// fail after the consumer's commit on their first attempt (a crash before the acknowledgement,
    /// retried). "plain" is MassTransit with publisher confirms, the consumer saving and sending
    /// directly; "forwarding" adds <c>UseEventForwarding</c>, the confirmed resending producer, and the EF
    /// Core inbox and outbox, in two modes side by side: <c>per_message</c> (one transaction per message,
    /// the default) and <c>batched</c> (<c>o.Batching(...)</c>: what waits together at the endpoint is
    /// claimed, run and committed in one transaction of up to <see cref="BatchMax"/>). Throughput is messages per
    /// second until the last distinct forwarded event arrives downstream; <c>lost</c> and
    /// <c>duplicate_effects</c> are counted in every forwarding run (and reported for plain, where the
    /// duplicates are expected). A <see cref="DbRoundTripCounter" /> on the runs' DbContext counts
    /// commits and round trips per work message (consumers, delivery service and clean-up alike).
    /// After the burst rounds a trickle of 20 msg/s per mode measures the delivery lag at low load. On
    /// PostgreSQL a diagnostic variant <c>per_message_sync_off</c> runs the forwarding variant with
    /// <c>synchronous_commit=off</c> on its own connections only (never a default: it would lose
    /// acknowledged messages on a server crash), to show whether the WAL flush or the CPU is the limit.
    /// </summary>
    public sealed class EventForwardingScenario : IBenchScenario
    {
        // The same endpoint settings for every variant. Three batches of 8 fill the 24 slots. Each variant alone in a
        // process, untiered: 8 x 3, 8 x 4, 8 x 6, 16 x 2, 16 x 3, 24 x 2 and 32 x 2 (24 to 64 slots) all ran batched at
        // 1,050-1,450 msg/s against plain's 1,450-1,750: the settings move the rate less than the noise between runs.
        const int Concurrency = 24;
        const int FaultEvery = 100;
        const int MaxWarmupRounds = 5;
        const double StillWarming = 1.05;
        const int TrickleMessagesPerSecond = 20;
        const int BatchMax = 8;
        const int MaxConcurrentBatches = 3;

        public string Name => "event-forwarding";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.RabbitMq, BenchContext.InMemory];

        /// <summary>One configuration measured side by side with the others.</summary>
        /// <param name="Batching">Batched mode's MaxBatchSize; 0: one transaction per message.</param>
        sealed record Variant(string Name, bool Forwarding, bool SyncOff = false, int Batching = 0);

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var rabbit = context.Transport == BenchContext.RabbitMq;
            var count = rabbit ? (context.Quick ? 600 : 2_000) : (context.Quick ? 800 : 2_000);
            var rounds = context.Quick ? 3 : 5;
            var trickleSeconds = context.Quick ? 5 : 10;
            await using var database = await BenchDatabase.CreateAsync(rabbit, cancellationToken);

            var plainVariant = new Variant("plain", Forwarding: false);
            var perMessage = new Variant("per_message", Forwarding: true);
            var batched = new Variant("batched", Forwarding: true, Batching: BatchMax);
            var syncOff = new Variant("per_message_sync_off", Forwarding: true, SyncOff: true);
            List<Variant> modes = [perMessage, batched];
            List<Variant> variants = rabbit ? [plainVariant, perMessage, batched, syncOff] : [plainVariant, perMessage, batched];
            if (rabbit)
                await database.CheckSynchronousCommitAsync(cancellationToken);

            var samples = variants.ToDictionary(v => v, _ => new List<Outcome>());
            // The delivery lag per mode (each recorder records only while its mode runs), the batch sizes of the batched mode.
            var lags = modes.ToDictionary(m => m, _ => new LagRecorder());
            using var batchSizes = new BatchSizeRecorder();
            try
            {
                var warmupRounds = await WarmUpAsync(context, database, variants, count, context.Quick ? 1 : MaxWarmupRounds, cancellationToken);
                foreach (var recorder in lags.Values)
                    recorder.Reset();
                batchSizes.Reset();
                for (var round = 1; round <= rounds; round++)
                {
                    // Each round starts with the next variant, so none always runs right after the same one.
                    foreach (var variant in variants.Skip((round - 1) % variants.Count).Concat(variants.Take((round - 1) % variants.Count)))
                    {
                        foreach (var (mode, recorder) in lags)
                            recorder.Recording = variant == mode;
                        batchSizes.Recording = variant == batched;
                        var outcome = await RunOnceAsync(context, database, variant, count, null, cancellationToken);
                        samples[variant].Add(outcome);
                        context.Progress($"round {round}/{rounds} {variant.Name}: {outcome.Rate:N0} msg/s, lost {outcome.Lost}, duplicate effects {outcome.DuplicateEffects}, " +
                            $"suppressed {outcome.Suppressed}, per message {outcome.Db.RoundTrips / (double)count:N2} round trips, {outcome.Db.Commits / (double)count:N2} commits" +
                            (variant.Batching > 1 ? $", batch splits {outcome.BatchSplits}" : ""));
                    }
                }
                batchSizes.Recording = false;
                var burstLag = lags.ToDictionary(l => l.Key, l => (P50: l.Value.Percentile(50), P99: l.Value.Percentile(99)));

                // Low load, per mode: one message every 50 ms, the same faults; the lag from the outbox row to its confirmed delivery.
                var trickleCount = TrickleMessagesPerSecond * trickleSeconds;
                var trickles = new Dictionary<Variant, (Outcome Outcome, double P50, double P99)>();
                foreach (var mode in modes)
                {
                    foreach (var (m, recorder) in lags)
                    {
                        recorder.Reset();
                        recorder.Recording = m == mode;
                    }
                    var outcome = await RunOnceAsync(context, database, mode, trickleCount, TimeSpan.FromSeconds(1.0 / TrickleMessagesPerSecond), cancellationToken);
                    trickles[mode] = (outcome, lags[mode].Percentile(50), lags[mode].Percentile(99));
                    context.Progress($"trickle {mode.Name} {TrickleMessagesPerSecond} msg/s for {trickleSeconds} s: lag p50 {trickles[mode].P50:N1} ms, " +
                        $"p99 {trickles[mode].P99:N1} ms, lost {outcome.Lost}, duplicate effects {outcome.DuplicateEffects}, " +
                        $"per message {outcome.Db.RoundTrips / (double)trickleCount:N2} round trips, {outcome.Db.Commits / (double)trickleCount:N2} commits");
                }
                if (rabbit)
                    await database.CheckSynchronousCommitAsync(cancellationToken);
                return Report(context, count, rounds, warmupRounds, trickleSeconds, trickleCount, plainVariant, modes, syncOff, samples, burstLag, trickles, batchSizes);
            }
            finally
            {
                foreach (var recorder in lags.Values)
                    recorder.Dispose();
            }
        }

        BenchResult Report(BenchContext context, int count, int rounds, int warmupRounds, int trickleSeconds, int trickleCount, Variant plainVariant, List<Variant> modes,
            Variant syncOff, Dictionary<Variant, List<Outcome>> samples, Dictionary<Variant, (double P50, double P99)> burstLag,
            Dictionary<Variant, (Outcome Outcome, double P50, double P99)> trickles, BatchSizeRecorder batchSizes)
        {
            var rabbit = context.Transport == BenchContext.RabbitMq;
            var perMessage = modes[0];
            var plain = Throughput.Median(samples[plainVariant].Select(o => o.Rate));
            var forwarding = Throughput.Median(samples[perMessage].Select(o => o.Rate));
            var fwd = samples[perMessage];
            double PerMessage(List<Outcome> outcomes, Func<DbCounts, long> pick) => outcomes.Sum(o => pick(o.Db)) / (double)(count * outcomes.Count);
            // Median of the rounds' own ratios (each variant against the plain run of the same round): less moved by drift over the rounds.
            double Paired(Variant variant) => Throughput.Median(samples[variant].Zip(samples[plainVariant], (v, p) => v.Rate / p.Rate));
            // lost and duplicate_effects: every forwarding run of both modes, burst rounds and trickle.
            int Lost(Variant mode) => samples[mode].Sum(o => o.Lost) + trickles[mode].Outcome.Lost;
            int DuplicateEffects(Variant mode) => samples[mode].Sum(o => o.DuplicateEffects) + trickles[mode].Outcome.DuplicateEffects;
            var result = new BenchResult(Name, context.Transport)
                .Parameter("messages", count)
                .Parameter("rounds", rounds)
                .Metric("warmup_rounds", warmupRounds)
                .Parameter("concurrency", Concurrency)
                .Parameter("database", rabbit ? "postgresql" : "sqlite")
                .Parameter("duplicate_sends_per_100", 1)
                .Parameter("post_commit_failures_per_100", 1)
                .Parameter("trickle_msg_per_s", TrickleMessagesPerSecond)
                .Parameter("trickle_s", trickleSeconds)
                .Parameter("batch_max", BatchMax)
                .Parameter("max_concurrent_batches", MaxConcurrentBatches)
                .Metric("lost", modes.Sum(Lost))
                .Metric("duplicate_effects", modes.Sum(DuplicateEffects))
                .Metric("throughput_ratio_vs_plain", forwarding / plain)
                .Metric("msg_per_s.plain", plain)
                .Metric("msg_per_s.forwarding", forwarding)
                .Metric("lost_plain", samples[plainVariant].Sum(o => o.Lost))
                .Metric("duplicate_effects_plain", samples[plainVariant].Sum(o => o.DuplicateEffects))
                .Metric("duplicates_suppressed", fwd.Sum(o => o.Suppressed))
                .Metric("outbox_left", modes.Sum(m => samples[m].Sum(o => o.OutboxLeft) + trickles[m].Outcome.OutboxLeft))
                // The unsuffixed lags keep their meaning: the default mode's (per_message).
                .Metric("delivery_lag_p50_ms", burstLag[perMessage].P50)
                .Metric("delivery_lag_p99_ms", burstLag[perMessage].P99)
                .Metric("delivery_lag_p50_ms_trickle", trickles[perMessage].P50)
                .Metric("delivery_lag_p99_ms_trickle", trickles[perMessage].P99)
                .Metric("commits_per_message", PerMessage(fwd, d => d.Commits))
                .Metric("db_round_trips_per_message", PerMessage(fwd, d => d.RoundTrips))
                .Metric("commits_per_message.plain", PerMessage(samples[plainVariant], d => d.Commits))
                .Metric("db_round_trips_per_message.plain", PerMessage(samples[plainVariant], d => d.RoundTrips));
            // Per mode (BENCHMARKS.md "event-forwarding (added)"): delivery_lag_p99_ms.<mode> is the trickle's (the low-load criterion).
            foreach (var mode in modes)
            {
                var runs = samples[mode];
                var modeTrickle = trickles[mode];
                var rate = Throughput.Median(runs.Select(o => o.Rate));
                result
                    .Metric($"throughput_ratio_vs_plain.{mode.Name}", rate / plain)
                    .Metric($"throughput_ratio_vs_plain_paired.{mode.Name}", Paired(mode))
                    .Metric($"msg_per_s.{mode.Name}", rate)
                    .Metric($"lost.{mode.Name}", Lost(mode))
                    .Metric($"duplicate_effects.{mode.Name}", DuplicateEffects(mode))
                    .Metric($"duplicates_suppressed.{mode.Name}", runs.Sum(o => o.Suppressed))
                    .Metric($"commits_per_message.{mode.Name}", PerMessage(runs, d => d.Commits))
                    .Metric($"db_round_trips_per_message.{mode.Name}", PerMessage(runs, d => d.RoundTrips))
                    .Metric($"db_commands_per_message.{mode.Name}", PerMessage(runs, d => d.Commands))
                    .Metric($"db_savepoint_ops_per_message.{mode.Name}", PerMessage(runs, d => d.SavepointOps))
                    .Metric($"db_transactions_begun_per_message.{mode.Name}", PerMessage(runs, d => d.TransactionsStarted))
                    .Metric($"db_savepoints_created_per_message.{mode.Name}", PerMessage(runs, d => d.SavepointsCreated))
                    .Metric($"db_rollbacks_per_message.{mode.Name}", PerMessage(runs, d => d.Rollbacks))
                    .Metric($"delivery_lag_p50_ms_trickle.{mode.Name}", modeTrickle.P50)
                    .Metric($"delivery_lag_p99_ms.{mode.Name}", modeTrickle.P99)
                    .Metric($"delivery_lag_p99_ms_burst.{mode.Name}", burstLag[mode].P99)
                    .Metric($"commits_per_message_trickle.{mode.Name}", modeTrickle.Outcome.Db.Commits / (double)trickleCount)
                    .Metric($"db_round_trips_per_message_trickle.{mode.Name}", modeTrickle.Outcome.Db.RoundTrips / (double)trickleCount);
            }
            var batchedRuns = samples[modes[1]];
            result
                // Members per committed batch over the batched burst rounds (a message that ran alone is no batch), and the
                // share of the rounds' messages (copies and retries included) that ran in a batch of more than one.
                .Metric("batch_size_p50.batched", batchSizes.Percentile(50))
                .Metric("batch_size_p95.batched", batchSizes.Percentile(95))
                .Metric("batches.batched", batchSizes.Batches)
                .Metric("batched_share.batched", batchSizes.Members / (double)(count * batchedRuns.Count))
                .Metric("batch_splits.batched", batchedRuns.Sum(o => o.BatchSplits))
                .Metric("batch_member_failures.batched", batchedRuns.Sum(o => o.BatchMemberFailures));
            if (rabbit)
            {
                var off = samples[syncOff];
                var offRate = Throughput.Median(off.Select(o => o.Rate));
                result
                    .Metric("msg_per_s.per_message_sync_off", offRate)
                    .Metric("throughput_ratio_vs_plain.per_message_sync_off", offRate / plain)
                    .Metric("throughput_ratio_vs_plain_paired.per_message_sync_off", Paired(syncOff))
                    .Metric("commits_per_message.per_message_sync_off", PerMessage(off, d => d.Commits))
                    .Metric("db_round_trips_per_message.per_message_sync_off", PerMessage(off, d => d.RoundTrips))
                    .Metric("lost.per_message_sync_off", off.Sum(o => o.Lost))
                    .Metric("duplicate_effects.per_message_sync_off", off.Sum(o => o.DuplicateEffects));
            }
            return result;
        }

        static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what)
        {
            var watch = Stopwatch.StartNew();
            while (!await condition())
            {
                if (watch.Elapsed > timeout)
                    throw new TimeoutException($"not within {timeout}: {what}");
                await Task.Delay(50);
            }
        }

        sealed record DbCounts(long Commands, long RoundTrips, long Commits, long SavepointOps, long SavepointsCreated, long TransactionsStarted, long Rollbacks)
        {
            public static DbCounts Of(DbRoundTripCounter counter) =>
                new(counter.Commands, counter.RoundTrips, counter.Commits, counter.SavepointOps, counter.SavepointsCreated, counter.TransactionsStarted, counter.Rollbacks);
        }

        sealed record Outcome(double Rate, int Lost, int DuplicateEffects, long Suppressed, int OutboxLeft, DbCounts Db, long BatchSplits, long BatchMemberFailures);

        /// <summary>
        /// Full-size warm-up rounds over every variant until none is still getting faster: tiered compilation (call
        /// counting, then tier-1 with the profile it gathered) keeps raising the rates for several runs, the more so for
        /// the variants whose code the others do not share (perf, a warming run: the JIT thread took 11 % of the CPU).
        /// Each variant alone in a process, tiered defaults, runs of 2,000: plain climbed 910 → 1,735 msg/s and batched
        /// 680 → 1,380-1,714 over 16 runs; measured after one warm-up run, the rounds compared code at different tiers.
        /// Stops after a round in which no variant ran more than <see cref="StillWarming"/> above its best earlier warm-up
        /// rate (at least two rounds), or after <paramref name="maxRounds"/>. Returns the rounds run.
        /// </summary>
        static async Task<int> WarmUpAsync(BenchContext context, BenchDatabase database, List<Variant> variants, int count, int maxRounds,
            CancellationToken cancellationToken)
        {
            var best = variants.ToDictionary(v => v, _ => 0.0);
            for (var round = 1; round <= maxRounds; round++)
            {
                var climbing = new List<string>();
                foreach (var variant in variants.Skip((round - 1) % variants.Count).Concat(variants.Take((round - 1) % variants.Count)))
                {
                    var rate = (await RunOnceAsync(context, database, variant, count, null, cancellationToken)).Rate;
                    if (round == 1 || rate > best[variant] * StillWarming)
                        climbing.Add($"{variant.Name} {rate:N0} msg/s (best before {best[variant]:N0})");
                    best[variant] = Math.Max(best[variant], rate);
                }
                context.Progress($"warm-up round {round}/{maxRounds}: " + (climbing.Count == 0 ? "no variant faster than before" : "still climbing: " + string.Join(", ", climbing)));
                if (round >= 2 && climbing.Count == 0)
                    return round;
            }
            return maxRounds;
        }

        /// <param name="trickle">Null: send as fast as confirmed; else one message per interval.</param>
        static async Task<Outcome> RunOnceAsync(BenchContext context, BenchDatabase database, Variant variant, int count, TimeSpan? trickle,
            CancellationToken cancellationToken)
        {
            var forwarding = variant.Forwarding;
            await database.ClearAsync(cancellationToken);
            var queue = $"bench-fwd-{Guid.NewGuid():N}"[..24];
            var downstream = queue + "-out";
            var ids = Enumerable.Range(0, count).Select(_ => NewId.NextGuid()).ToArray();
            var duplicated = Enumerable.Range(0, count).Where(i => i % FaultEvery == 7).ToArray();
            var failOnce = new FailOnceAfterConsumer(Enumerable.Range(0, count).Where(i => i % FaultEvery == 42).Select(i => ids[i]).ToHashSet(), queue);
            var state = new RunState(count, new Uri($"exchange:{downstream}"), queue);
            var counter = new DbRoundTripCounter();
            using var suppressed = new CounterListener("masstransit.patterns.event_forwarding.inbox.duplicates_suppressed");
            using var splits = new CounterListener("masstransit.patterns.event_forwarding.inbox.batch_splits");
            using var memberFailures = new CounterListener("masstransit.patterns.event_forwarding.inbox.batch_member_failures");

            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Services.AddSingleton(state);
            // Every receive endpoint bound before the first send: a send to an exchange without its queue is dropped (plain) or returned (forwarding).
            builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
            builder.Services.AddDbContext<BenchDb>(o =>
            {
                database.Configure(o);
                if (variant.SyncOff)
                    o.UseNpgsql(database.SyncOffConnectionString);
                o.AddInterceptors(counter);
            });
            builder.Services.AddReceiveObserver(_ => state);
            builder.Services.AddMassTransit(x =>
            {
                if (forwarding)
                {
                    x.AddEventForwarding();
                    x.AddPatternsEntityFrameworkOutbox<BenchDb>();
                }
                x.AddConsumer<WorkConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = Concurrency;
                    e.PrefetchCount = Concurrency * 2;
                });
                x.AddConsumer<DownstreamConsumer>().Endpoint(e =>
                {
                    e.Name = downstream;
                    e.ConcurrentMessageLimit = Concurrency;
                    e.PrefetchCount = Concurrency * 4;
                });
                x.AddConfigureEndpointsCallback((registration, name, cfg) =>
                {
                    if (name != queue)
                        return;
                    cfg.UseMessageRetry(r => r.Immediate(3));
                    cfg.UseFilter(failOnce);
                    if (forwarding)
                    {
                        cfg.UsePatternsEntityFrameworkOutbox<BenchDb>(registration, o =>
                        {
                            if (variant.Batching > 1)
                            {
                                o.Batching(b =>
                                {
                                    b.MaxBatchSize = variant.Batching;
                                    b.MaxConcurrentBatches = MaxConcurrentBatches;
                                });
                            }
                        });
                    }
                });
                context.UseTransport(x, (registration, cfg) =>
                {
                    if (!forwarding)
                        return;
                    if (cfg is IRabbitMqBusFactoryConfigurator rabbit)
                        rabbit.UseEventForwarding(registration);
                    else
                        cfg.UseEventForwarding(registration);
                });
            });

            using var host = builder.Build();
            if (context.Transport == BenchContext.RabbitMq)
                await CheckSessionAsync(host.Services, variant, cancellationToken);
            await host.StartAsync(cancellationToken);
            double rate;
            var outboxLeft = 0;
            DbCounts db;
            try
            {
                var bus = host.Services.GetRequiredService<IBus>();
                var forwarder = forwarding ? host.Services.GetRequiredService<IEventForwarder>() : null;
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var address = new Uri($"exchange:{queue}");

                Task Send(int i) => forwarder is not null
                    ? forwarder.Send(address, new ForwardingWork(i), ids[i], null, cancellationToken)
                    : endpoint.Send(new ForwardingWork(i), c => c.MessageId = ids[i], cancellationToken);

                // Counted from the first send: the host's start-up (model check, lease) is not the messages' cost.
                counter.Reset();
                var watch = Stopwatch.StartNew();
                var batch = new List<Task>(256);
                var duplicates = new HashSet<int>(duplicated);
                for (var i = 0; i < count; i++)
                {
                    if (trickle is { } interval)
                    {
                        // On a schedule (not a delay after each send): a slow confirmation does not slow the trickle.
                        var wait = interval * i - watch.Elapsed;
                        if (wait > TimeSpan.Zero)
                            await Task.Delay(wait, cancellationToken);
                    }
                    batch.Add(Send(i));
                    if (duplicates.Contains(i))
                        batch.Add(Send(i));
                    if (batch.Count >= 256)
                    {
                        await Task.WhenAll(batch);
                        batch.Clear();
                    }
                }
                await Task.WhenAll(batch);
                await state.AllForwarded.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
                rate = count / watch.Elapsed.TotalSeconds;

                // Every copy (originals and duplicates) processed before counting the effects.
                await WaitUntil(() => Task.FromResult(state.WorkReceived >= count + duplicated.Length), TimeSpan.FromMinutes(1), "every copy is processed");
                if (forwarding)
                {
                    try
                    {
                        await WaitUntil(async () => await database.OutboxCountAsync(cancellationToken) == 0, TimeSpan.FromSeconds(30), "the outbox drains");
                    }
                    catch (TimeoutException)
                    {
                        outboxLeft = await database.OutboxCountAsync(cancellationToken);
                    }
                }
                // The delivered rows' delete included (the outbox is empty); the bench's own reads use contexts without the counter.
                db = DbCounts.Of(counter);
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
                if (context.Transport == BenchContext.RabbitMq)
                    await RabbitCleanup.DeleteEndpointsAsync([queue, downstream]);
            }

            var applied = await database.AppliedAsync(cancellationToken);
            var lost = ids.Count(id => !applied.ContainsKey(id)) + ids.Count(id => applied.ContainsKey(id) && !state.Forwarded.ContainsKey(id));
            return new Outcome(rate, lost, applied.Values.Count(c => c > 1), suppressed.Sum, outboxLeft, db, splits.Sum, memberFailures.Sum);
        }

        /// <summary>The run's own DbContext commits asynchronously exactly when the variant says so (checked on its connection, not counted).</summary>
        static async Task CheckSessionAsync(IServiceProvider services, Variant variant, CancellationToken cancellationToken)
        {
            await using var scope = services.CreateAsyncScope();
            var connection = scope.ServiceProvider.GetRequiredService<BenchDb>().Database.GetDbConnection();
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SHOW synchronous_commit";
            var value = (string?)await command.ExecuteScalarAsync(cancellationToken);
            await connection.CloseAsync();
            var expected = variant.SyncOff ? "off" : "on";
            if (value != expected)
                throw new InvalidOperationException($"synchronous_commit is '{value}' on the {variant.Name} variant's DbContext connection, expected {expected}");
        }

        /// <summary>Per run: distinct forwarded events that arrived downstream, and every copy of the work processed.</summary>
        sealed class RunState(int count, Uri downstream, string queue) : IReceiveObserver
        {
            readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
            int _received;

            public Uri Downstream { get; } = downstream;

            public ConcurrentDictionary<Guid, int> Forwarded { get; } = new();

            public Task AllForwarded => _all.Task;

            public int WorkReceived => Volatile.Read(ref _received);

            public void OnForwarded(Guid source)
            {
                Forwarded.AddOrUpdate(source, 1, (_, n) => n + 1);
                if (Forwarded.Count >= count)
                    _all.TrySetResult();
            }

            public Task PostReceive(ReceiveContext context)
            {
                if (context.InputAddress.AbsolutePath.EndsWith("/" + queue, StringComparison.Ordinal))
                    Interlocked.Increment(ref _received);
                return Task.CompletedTask;
            }

            public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

            public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
                where T : class =>
                Task.CompletedTask;

            public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
                where T : class =>
                Task.CompletedTask;

            public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
        }

        /// <summary>Applies the work through the scope's DbContext and forwards the event (through the outbox when it is on).</summary>
        sealed class WorkConsumer(BenchDb db, RunState state) : IConsumer<ForwardingWork>
        {
            public async Task Consume(ConsumeContext<ForwardingWork> context)
            {
                var id = context.MessageId!.Value;
                // One statement: a second application of the same message shows as Count 2.
                await db.Database.ExecuteSqlInterpolatedAsync(
                    $"""INSERT INTO "Effects" ("MessageId", "Count") VALUES ({id}, 1) ON CONFLICT ("MessageId") DO UPDATE SET "Count" = "Effects"."Count" + 1""",
                    context.CancellationToken);
                var endpoint = await context.GetSendEndpoint(state.Downstream);
                await endpoint.Send(new ForwardingWorkDone(id, context.Message.Number), context.CancellationToken);
            }
        }

        sealed class DownstreamConsumer(RunState state) : IConsumer<ForwardingWorkDone>
        {
            public Task Consume(ConsumeContext<ForwardingWorkDone> context)
            {
                state.OnForwarded(context.Message.Source);
                return Task.CompletedTask;
            }
        }

        /// <summary>Throws once for chosen messages after the consumer (and its commit) completed: a crash before the acknowledgement, then retried.</summary>
        sealed class FailOnceAfterConsumer(HashSet<Guid> ids, string queue) : IFilter<ConsumeContext>
        {
            readonly ConcurrentDictionary<Guid, bool> _failed = new();

            public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
            {
                await next.Send(context);
                if (context.MessageId is { } id && ids.Contains(id) && _failed.TryAdd(id, true))
                    throw new IOException("connection lost after the commit (injected)");
            }

            public void Probe(ProbeContext context) => context.CreateFilterScope("fail-once-after-consumer-" + queue);
        }

        sealed class CounterListener : IDisposable
        {
            readonly MeterListener _listener = new();
            long _sum;

            public CounterListener(string instrument)
            {
                _listener.InstrumentPublished = (i, l) =>
                {
                    if (i.Meter.Name == PatternsDiagnostics.Name && i.Name == instrument)
                        l.EnableMeasurementEvents(i);
                };
                _listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref _sum, v));
                _listener.Start();
            }

            public long Sum => Interlocked.Read(ref _sum);

            public void Dispose() => _listener.Dispose();
        }

        /// <summary>Members per committed batch (the batched inbox's <c>inbox.batch_size</c> histogram), while recording.</summary>
        sealed class BatchSizeRecorder : IDisposable
        {
            readonly MeterListener _listener = new();
            readonly LongConcurrentHistogram _histogram = new(1, 1_000, 3);
            long _members;
            bool _recording;

            public BatchSizeRecorder()
            {
                _listener.InstrumentPublished = (i, l) =>
                {
                    if (i.Meter.Name == PatternsDiagnostics.Name && i.Name == "masstransit.patterns.event_forwarding.inbox.batch_size")
                        l.EnableMeasurementEvents(i);
                };
                // The instrument's type is the library's choice: either integer type is recorded.
                _listener.SetMeasurementEventCallback<long>((_, size, _, _) => Record(size));
                _listener.SetMeasurementEventCallback<int>((_, size, _, _) => Record(size));
                _listener.Start();
            }

            void Record(long size)
            {
                if (!Volatile.Read(ref _recording))
                    return;
                _histogram.RecordValue(Math.Max(1, size));
                Interlocked.Add(ref _members, size);
            }

            public bool Recording
            {
                get => Volatile.Read(ref _recording);
                set => Volatile.Write(ref _recording, value);
            }

            public long Batches => _histogram.TotalCount;

            public long Members => Interlocked.Read(ref _members);

            public void Reset()
            {
                _histogram.Reset();
                Interlocked.Exchange(ref _members, 0);
            }

            public double Percentile(double p) => _histogram.TotalCount == 0 ? 0 : _histogram.GetValueAtPercentile(p);

            public void Dispose() => _listener.Dispose();
        }

        /// <summary>The outbox delivery lag (send to confirmed delivery), as MassTransit.Patterns records it.</summary>
        sealed class LagRecorder : IDisposable
        {
            readonly MeterListener _listener = new();
            readonly LongConcurrentHistogram _histogram = new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
            bool _recording = true;

            /// <summary>False: lags reported meanwhile (another variant's run) are not recorded.</summary>
            public bool Recording
            {
                get => Volatile.Read(ref _recording);
                set => Volatile.Write(ref _recording, value);
            }

            public LagRecorder()
            {
                _listener.InstrumentPublished = (i, l) =>
                {
                    if (i.Meter.Name == PatternsDiagnostics.Name && i.Name == "masstransit.patterns.event_forwarding.outbox.delivery_lag")
                        l.EnableMeasurementEvents(i);
                };
                _listener.SetMeasurementEventCallback<double>((_, ms, _, _) =>
                {
                    if (Volatile.Read(ref _recording))
                        _histogram.RecordValue(Math.Max(1, (long)(ms * 1000)));
                });
                _listener.Start();
            }

            public void Reset() => _histogram.Reset();

            public double Percentile(double p) => _histogram.TotalCount == 0 ? 0 : _histogram.GetValueAtPercentile(p) / 1000.0;

            public void Dispose() => _listener.Dispose();
        }
    }

    public sealed class BenchEffect
    {
        public Guid MessageId { get; set; }
        public int Count { get; set; }
    }

    public sealed class BenchDb(DbContextOptions<BenchDb> options) : DbContext(options)
    {
        public DbSet<BenchEffect> Effects => Set<BenchEffect>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.Entity<BenchEffect>().HasKey(e => e.MessageId);
            modelBuilder.Entity<BenchEffect>().Property(e => e.MessageId).ValueGeneratedNever();
            modelBuilder.AddEventForwardingEntities();
        }
    }

    /// <summary>PostgreSQL (a database of its own) with RabbitMQ, a SQLite file in memory runs; emptied between runs, dropped at the end.</summary>
    sealed class BenchDatabase(ThrowawayDatabase<BenchDb> database) : IAsyncDisposable
    {
        const string SyncOffOptions = "-c synchronous_commit=off";
        string? _syncOff;

        public Action<DbContextOptionsBuilder> Configure => database.Configure;

        /// <summary>
        /// PostgreSQL: this database with <c>synchronous_commit=off</c> for the sessions of this connection
        /// string only (startup options, so a pooled session keeps it); the server and database defaults stay on.
        /// </summary>
        public string SyncOffConnectionString
        {
            get
            {
                if (_syncOff is null)
                {
                    using var db = database.Open();
                    _syncOff = new NpgsqlConnectionStringBuilder(db.Database.GetConnectionString()) { Options = SyncOffOptions }.ConnectionString;
                }
                return _syncOff;
            }
        }

        public static async Task<BenchDatabase> CreateAsync(bool postgres, CancellationToken cancellationToken) =>
            new(await ThrowawayDatabase<BenchDb>.CreateAsync(postgres, "bench_fwd", o => new BenchDb(o), cancellationToken: cancellationToken));

        /// <summary>Fails loudly unless the diagnostic connections commit asynchronously and a default one synchronously.</summary>
        public async Task CheckSynchronousCommitAsync(CancellationToken cancellationToken)
        {
            string defaultConnection;
            await using (var db = database.Open())
                defaultConnection = db.Database.GetConnectionString()!;
            var off = await ShowSynchronousCommitAsync(SyncOffConnectionString, cancellationToken);
            var on = await ShowSynchronousCommitAsync(defaultConnection, cancellationToken);
            if (off != "off" || on != "on")
                throw new InvalidOperationException(
                    $"synchronous_commit is '{off}' on the sync-off variant's connections (expected off) and '{on}' on a default connection (expected on)");
        }

        static async Task<string?> ShowSynchronousCommitAsync(string connectionString, CancellationToken cancellationToken)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SHOW synchronous_commit", connection);
            return (string?)await command.ExecuteScalarAsync(cancellationToken);
        }

        public async Task ClearAsync(CancellationToken cancellationToken)
        {
            await using var db = database.Open();
            await db.Effects.ExecuteDeleteAsync(cancellationToken);
            await db.Set<InboxEntry>().ExecuteDeleteAsync(cancellationToken);
            await db.Set<OutboxEntry>().ExecuteDeleteAsync(cancellationToken);
        }

        public async Task<int> OutboxCountAsync(CancellationToken cancellationToken)
        {
            await using var db = database.Open();
            return await db.Set<OutboxEntry>().CountAsync(cancellationToken);
        }

        public async Task<Dictionary<Guid, int>> AppliedAsync(CancellationToken cancellationToken)
        {
            await using var db = database.Open();
            return await db.Effects.AsNoTracking().ToDictionaryAsync(e => e.MessageId, e => e.Count, cancellationToken);
        }

        public ValueTask DisposeAsync()
        {
            // The sync-off sessions are a pool of their own: closed too, or the database could not be dropped.
            if (_syncOff is not null)
            {
                using var connection = new NpgsqlConnection(_syncOff);
                NpgsqlConnection.ClearPool(connection);
            }
            return database.DisposeAsync();
        }
    }
}
