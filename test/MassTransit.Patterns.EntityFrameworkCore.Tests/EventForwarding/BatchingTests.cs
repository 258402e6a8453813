using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>
/// Batched inbox transactions: a known set of messages is parked while the collector is paused, then taken
/// as one batch, so each test knows its batch. Every message is accounted for: its effect row (Count 1 or
/// none), its inbox row, its forwarded events, and what the receive pipeline reported (consumed, faulted).
/// </summary>
[Collection(ForwardingMetrics.Collection)]
public sealed class BatchingTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    const int Forward = 3;

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task One_failing_member_is_rolled_back_alone_and_faults_while_the_others_commit_once(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var batch = new BatchSetup();
        await using var rig = await StartAsync(database, batch);

        var messages = Enumerable.Range(0, 8).Select(i => (Id: NewId.NextGuid(), Message: new ApplyEffect(NewId.NextGuid(), Forward, Fail: i == 3))).ToList();
        await SendAsOneBatchAsync(rig, batch, messages);

        var poison = messages[3];
        var good = messages.Where(m => m != poison).ToList();
        await Eventually.True(() => rig.Received.Count(poison.Id, "faulted") == 1, Wait, "the failing member takes its failure path");
        await Eventually.True(() => good.All(m => rig.Received.Count(m.Id, "consumed") == 1), Wait, "every good member is acknowledged");
        await AssertAppliedOnceWithTheirEventsAsync(rig, good);
        Assert.Null(await rig.EffectAsync(poison.Message.EffectId));
        Assert.Equal(0, await rig.InboxCountAsync(poison.Id));
        Assert.Empty(rig.Forwarded.For(poison.Message.EffectId));
        Assert.Equal(0, rig.Received.Count(poison.Id, "consumed"));
        Assert.Contains(rig.Harness.Published.Select<Fault<ApplyEffect>>(), f => f.Context.Message.Message.EffectId == poison.Message.EffectId);
        Assert.Equal(good.Count * Forward, rig.Forwarded.Received.Count);

        Assert.Equal(1, metrics.Sum("inbox.batch_member_failures"));
        Assert.Equal(0, metrics.Sum("inbox.batch_splits"));
        Assert.Equal(good.Count, metrics.Sum("inbox.batch_size"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_failing_member_retried_in_place_applies_once_when_it_recovers_and_its_batch_mates_once(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var batch = new BatchSetup();
        var failures = new FailFirstAttempts();
        await using var rig = await StartAsync(database, batch, cfg => cfg.UseMessageRetry(r => r.Immediate(2)),
            services => services.AddSingleton(failures).ConfigureDbContext<ForwardingDb>(o => o.AddInterceptors(failures)));

        var messages = Enumerable.Range(0, 8).Select(_ => (Id: NewId.NextGuid(), Message: new ApplyEffect(NewId.NextGuid(), Forward))).ToList();
        // The 3rd member's first save fails (a deadlock victim, say): it is rolled back to its savepoint and retried.
        failures.FailFirstSaveOf(messages[2].Message.EffectId);
        await SendAsOneBatchAsync(rig, batch, messages);

        await Eventually.True(() => messages.All(m => rig.Received.Count(m.Id, "consumed") == 1), Wait, "every member is acknowledged");
        await AssertAppliedOnceWithTheirEventsAsync(rig, messages);
        Assert.Equal(messages.Count * Forward, rig.Forwarded.Received.Count);
        Assert.Equal(0, rig.Received.Count("faulted"));
        Assert.Equal(1, failures.Failed);
        Assert.Equal(1, metrics.Sum("inbox.batch_member_failures"));
        Assert.Equal(0, metrics.Sum("inbox.batch_splits"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_failed_commit_splits_the_batch_and_every_member_commits_once_alone(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var batch = new BatchSetup();
        var commits = new FailNextCommit();
        await using var rig = await StartAsync(database, batch, configureServices: services => services.ConfigureDbContext<ForwardingDb>(o => o.AddInterceptors(commits)));

        var messages = Enumerable.Range(0, 8).Select(_ => (Id: NewId.NextGuid(), Message: new ApplyEffect(NewId.NextGuid(), Forward))).ToList();
        await SendAsOneBatchAsync(rig, batch, messages, beforeResume: commits.Arm);

        // Each consumer ran twice, and only twice: in the batch that failed to commit, then alone.
        await Eventually.True(() => messages.All(m => rig.Received.Count(m.Id, "consumed") == 2), Wait, "every member ran alone after the split");
        await AssertAppliedOnceWithTheirEventsAsync(rig, messages);
        Assert.Equal(messages.Count * Forward, rig.Forwarded.Received.Count);
        Assert.Equal(1, commits.Failed);
        Assert.All(messages, m => Assert.Equal(2, rig.Received.Count(m.Id, "consumed")));
        Assert.Equal(0, rig.Received.Count("faulted"));
        Assert.Equal(1, metrics.Sum("inbox.batch_splits"));
        Assert.Equal(0, metrics.Sum("inbox.batch_size"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Two_copies_in_one_batch_and_a_copy_of_an_earlier_message_apply_once(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var batch = new BatchSetup();
        await using var rig = await StartAsync(database, batch);

        var earlier = (Id: NewId.NextGuid(), Message: new ApplyEffect(NewId.NextGuid(), Forward));
        await rig.SendAsync(earlier.Message, earlier.Id);
        await Eventually.True(() => rig.Received.Count(earlier.Id, "consumed") == 1, Wait, "the earlier message is consumed alone");

        var messages = Enumerable.Range(0, 6).Select(_ => (Id: NewId.NextGuid(), Message: new ApplyEffect(NewId.NextGuid(), Forward))).ToList();
        var copied = messages[1];
        await SendAsOneBatchAsync(rig, batch, [.. messages, copied, earlier]);

        await Eventually.True(() => messages.All(m => rig.Received.Count(m.Id, "consumed") == (m == copied ? 2 : 1)) && rig.Received.Count(earlier.Id, "consumed") == 2,
            Wait, "every copy is acknowledged");
        await AssertAppliedOnceWithTheirEventsAsync(rig, messages.Append(earlier));
        Assert.Equal((messages.Count + 1) * Forward, rig.Forwarded.Received.Count);
        Assert.Equal(2, metrics.Sum("inbox.duplicates_suppressed"));
        Assert.Equal(0, rig.Received.Count("faulted"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_member_timing_out_like_HttpClient_fails_alone_and_its_batch_mates_commit_once(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var batch = new BatchSetup();
        await using var rig = await StartAsync(database, batch);

        // A TaskCanceledException with no token cancelled is a failure of the member, not a cancellation of the batch.
        var messages = Enumerable.Range(0, 8).Select(i => (Id: NewId.NextGuid(), Message: new ApplyEffect(NewId.NextGuid(), Forward, TimeOut: i == 4))).ToList();
        await SendAsOneBatchAsync(rig, batch, messages);

        var timedOut = messages[4];
        var good = messages.Where(m => m != timedOut).ToList();
        await Eventually.True(() => rig.Received.Count(timedOut.Id, "faulted") == 1, Wait, "the timed-out member takes its failure path");
        await Eventually.True(() => good.All(m => rig.Received.Count(m.Id, "consumed") == 1), Wait, "every other member is acknowledged");
        await AssertAppliedOnceWithTheirEventsAsync(rig, good);
        Assert.Null(await rig.EffectAsync(timedOut.Message.EffectId));
        Assert.Equal(0, await rig.InboxCountAsync(timedOut.Id));
        Assert.Empty(rig.Forwarded.For(timedOut.Message.EffectId));
        Assert.Equal(0, rig.Received.Count(timedOut.Id, "consumed"));
        var fault = Assert.Single(rig.Harness.Published.Select<Fault<ApplyEffect>>(), f => f.Context.Message.Message.EffectId == timedOut.Message.EffectId);
        Assert.Contains(fault.Context.Message.Exceptions, e => e.ExceptionType == typeof(TaskCanceledException).FullName);
        Assert.Equal(good.Count * Forward, rig.Forwarded.Received.Count);

        Assert.Equal(1, metrics.Sum("inbox.batch_member_failures"));
        Assert.Equal(0, metrics.Sum("inbox.batch_splits"));
        Assert.Equal(good.Count, metrics.Sum("inbox.batch_size"));
    }

    [Fact]
    public async Task A_member_slower_than_the_warning_is_logged_with_its_message_and_the_batch_mates_it_held()
    {
        await using var database = await ForwardingDatabase.CreateAsync(Store.Sqlite);
        var batch = new BatchSetup { SlowMemberWarning = TimeSpan.FromMilliseconds(150) };
        await using var rig = await StartAsync(database, batch, configureServices: CapturedLogs.Use);

        var messages = Enumerable.Range(0, 5).Select(i => (Id: NewId.NextGuid(), Message: new ApplyEffect(NewId.NextGuid(), Forward, WorkMs: i == 1 ? 400 : 0))).ToList();
        var mark = CapturedLogs.Instance.Mark();
        await SendAsOneBatchAsync(rig, batch, messages);

        await Eventually.True(() => messages.All(m => rig.Received.Count(m.Id, "consumed") == 1), Wait, "every member is acknowledged");
        await AssertAppliedOnceWithTheirEventsAsync(rig, messages);
        var slow = CapturedLogs.Instance.Since(mark).Where(e => e.EventId.Id == 4134).ToList();
        var entry = Assert.Single(slow);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, entry.Level);
        Assert.Contains(messages[1].Id.ToString(), entry.Message);
        Assert.Contains("while 4 batch-mates waited", entry.Message);
        Assert.Equal(0, rig.Received.Count("faulted"));
    }

    [Fact]
    public void Batching_options_out_of_range_or_without_the_inbox_fail_naming_the_option()
    {
        var tooLarge = Assert.Throws<PatternOptionsException>(() => new ForwardingEndpointOptions().Batching(b => b.MaxBatchSize = 65).EnsureValid());
        Assert.Contains("Batching.MaxBatchSize", tooLarge.Message);
        Assert.Contains("65", tooLarge.Message);
        var one = Assert.Throws<PatternOptionsException>(() => new ForwardingEndpointOptions().Batching(b => b.MaxBatchSize = 1).EnsureValid());
        Assert.Contains("Batching.MaxBatchSize", one.Message);
        var leaders = Assert.Throws<PatternOptionsException>(() => new ForwardingEndpointOptions().Batching(b => b.MaxConcurrentBatches = 9).EnsureValid());
        Assert.Contains("Batching.MaxConcurrentBatches", leaders.Message);
        var options = new ForwardingEndpointOptions { Inbox = false };
        var noInbox = Assert.Throws<PatternOptionsException>(() => options.Batching().EnsureValid());
        Assert.Contains("Batching", noInbox.Message);
        Assert.Contains("Inbox", noInbox.Message);
    }

    static Task<ForwardingRig> StartAsync(ForwardingDatabase database, BatchSetup batch, Action<IReceiveEndpointConfigurator>? beforeConsumers = null,
        Action<IServiceCollection>? configureServices = null) =>
        ForwardingRig.StartAsync(database, o => o.Batching(b =>
            {
                b.MaxBatchSize = batch.MaxBatchSize;
                // One leader: the parked messages are taken as one batch, whatever the thread pool's timing.
                b.MaxConcurrentBatches = 1;
                b.SlowMemberWarning = batch.SlowMemberWarning;
                batch.Endpoint = b;
            }),
            cfg =>
            {
                cfg.ConcurrentMessageLimit = 16;
                beforeConsumers?.Invoke(cfg);
            }, configureServices: configureServices);

    /// <summary>The batch size a test asks for, and the options object the endpoint built its collector from.</summary>
    sealed class BatchSetup
    {
        public int MaxBatchSize { get; init; } = 16;

        public TimeSpan SlowMemberWarning { get; init; } = TimeSpan.FromSeconds(1);

        public ForwardingBatchOptions? Endpoint { get; set; }
    }

    /// <summary>
    /// Each message applied once (effect Count 1, one inbox row) with its events delivered once, in order; the
    /// outbox drains; nothing was left undelivered (_skipped).
    /// </summary>
    static async Task AssertAppliedOnceWithTheirEventsAsync(ForwardingRig rig, IEnumerable<(Guid Id, ApplyEffect Message)> applied)
    {
        var messages = applied.ToList();
        await Eventually.True(async () => rig.Forwarded.Received.Count >= messages.Count * Forward && await rig.OutboxCountAsync() == 0, Wait,
            "every applied message's events are delivered");
        foreach (var (id, message) in messages)
        {
            Assert.Equal(1, (await rig.EffectAsync(message.EffectId))?.Count);
            Assert.Equal(1, await rig.InboxCountAsync(id));
            Assert.Equal(Enumerable.Range(0, Forward), rig.Forwarded.For(message.EffectId).Select(e => e.Index));
        }
        Assert.Equal(0, rig.Received.Count("skipped"));
    }

    /// <summary>Parks every message while the collector is paused, then lets one batch take them all.</summary>
    static async Task SendAsOneBatchAsync(ForwardingRig rig, BatchSetup batch, IReadOnlyList<(Guid Id, ApplyEffect Message)> messages, Action? beforeResume = null)
    {
        var collector = batch.Endpoint?.Collector ?? throw new InvalidOperationException("the endpoint built no batch collector");
        collector.Pause();
        foreach (var (id, message) in messages)
            await rig.SendAsync(message, id);
        await Eventually.True(() => collector.Parked == messages.Count, Wait, $"all {messages.Count} messages are parked for one batch");
        beforeResume?.Invoke();
        collector.Resume();
    }

    /// <summary>Fails the first SaveChanges that adds a chosen effect, as a deadlock victim's statement would.</summary>
    sealed class FailFirstAttempts : SaveChangesInterceptor
    {
        Guid _effectId;
        int _failed;

        public int Failed => Volatile.Read(ref _failed);

        public void FailFirstSaveOf(Guid effectId) => _effectId = effectId;

        public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result,
            CancellationToken cancellationToken = default)
        {
            if (eventData.Context!.ChangeTracker.Entries<Effect>().Any(e => e.Entity.EffectId == _effectId) && Interlocked.CompareExchange(ref _failed, 1, 0) == 0)
                throw new InvalidOperationException("the effect's save failed once (test)");
            return base.SavingChangesAsync(eventData, result, cancellationToken);
        }
    }

    /// <summary>Fails the next commit once armed, as a lost connection or a deferred constraint would.</summary>
    sealed class FailNextCommit : DbTransactionInterceptor
    {
        int _armed;
        int _failed;

        public int Failed => Volatile.Read(ref _failed);

        public void Arm() => Volatile.Write(ref _armed, 1);

        public override ValueTask<InterceptionResult> TransactionCommittingAsync(System.Data.Common.DbTransaction transaction, TransactionEventData eventData,
            InterceptionResult result, CancellationToken cancellationToken = default)
        {
            if (Interlocked.CompareExchange(ref _armed, 0, 1) == 1)
            {
                Interlocked.Increment(ref _failed);
                throw new InvalidOperationException("the batch's commit failed (test)");
            }
            return base.TransactionCommittingAsync(transaction, eventData, result, cancellationToken);
        }
    }
}
