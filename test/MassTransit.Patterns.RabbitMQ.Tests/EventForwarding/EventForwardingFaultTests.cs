using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.FaultHost;
using MassTransit.Patterns.FaultHost.Messages;
using MassTransit.Patterns.Testing;
using Npgsql;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;

/// <summary>
/// Event forwarding under real faults, on a RabbitMQ node of this class's own (killed with kill -9
/// and restarted) and PostgreSQL: every confirmed message's effect is applied exactly once, and what
/// the consumer forwarded through its outbox arrives. Each test counts what was sent, confirmed,
/// consumed (handler runs) and applied, and writes the counts to the test output. Each test runs in
/// both modes of the EF Core inbox: one transaction per message (<c>batching: 0</c>) and batched
/// (<c>batching</c> = MaxBatchSize), where the batched run must show that it really formed batches of
/// more than one (else it proved nothing about them), read from the batch events the consumer reports.
/// </summary>
public sealed class EventForwardingFaultTests(ThrowawayRabbitNodeFixture fixture, ITestOutputHelper output) : IClassFixture<ThrowawayRabbitNodeFixture>
{
    static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);

    ThrowawayRabbitNode Node => fixture.Node;

    /// <summary>Producer lanes that send their share of <paramref name="ids"/>, paced; a send the broker did not confirm is kept to send again.</summary>
    static PacedForwardingProducer Producer(IEventForwarder forwarder, Uri destination, Guid[] ids) =>
        new(forwarder, destination, ids, exception => exception is MessageNotConfirmedException);

    void Report(string test, params (string Name, object Value)[] counts) =>
        output.WriteLine($"{test}: " + string.Join(", ", counts.Select(c => $"{c.Name}={c.Value}")));

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    public async Task Broker_killed_and_restarted_mid_stream_loses_no_confirmed_message_and_applies_each_once(int batching)
    {
        using var suppressed = new SuppressedCounter();
        await using var rig = await FaultSuiteRig.StartAsync(Node, "broker");
        var hooks = new ConsumerHooks();
        await rig.StartConsumerAsync(rig.Settings(batching: batching), hooks);
        const int messages = 400;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var producer = Producer(rig.Producer, rig.WorkAddress, ids);

        var sending = producer.RunAsync(lanes: 4, pace: TimeSpan.FromMilliseconds(20));
        await Eventually.True(() => producer.Confirmed.Count >= messages / 3, Recovery, "a third of the stream is confirmed");
        var confirmedAtKill = producer.Confirmed.Count;
        var appliedAtKill = await rig.AppliedCountAsync();
        await Node.Kill();
        var down = Stopwatch.StartNew();
        await Node.RestartAsync();
        output.WriteLine($"broker down for {down.Elapsed.TotalSeconds:0.0} s (restart took {Node.LastStart.TotalSeconds:0.0} s)");

        await sending;
        await producer.ResendUnconfirmedAsync(Recovery);
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "every confirmed message is applied", TimeSpan.FromMilliseconds(250));
        await Eventually.True(() => rig.Forwarded.DistinctSources >= messages, Recovery, "every forwarded event arrives downstream", TimeSpan.FromMilliseconds(250));

        var applied = await rig.AppliedAsync();
        var batches = rig.Batches;
        Report($"{nameof(Broker_killed_and_restarted_mid_stream_loses_no_confirmed_message_and_applies_each_once)}(batching: {batching})",
            ("messages", messages), ("sent", producer.Attempts), ("unconfirmed_then_resent", producer.UnconfirmedCalls), ("confirmed", producer.Confirmed.Count),
            ("confirmed_at_kill", confirmedAtKill), ("applied_at_kill", appliedAtKill), ("consumed", hooks.Handled), ("applied", applied.Count),
            ("duplicate_effects", applied.Values.Count(c => c > 1)), ("suppressed", suppressed.Count), ("forwarded", rig.Forwarded.Received.Count),
            ("forwarded_distinct", rig.Forwarded.DistinctSources), ("batches", batches));

        Assert.True(confirmedAtKill < messages, "the broker died mid-stream");
        Assert.Equal(messages, producer.Confirmed.Count);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        Assert.All(applied, a => Assert.Equal(1, a.Value));
        Assert.True(hooks.Handled >= messages, "every message was handled at least once");
        Assert.Equal(messages, rig.Forwarded.DistinctSources);
        Assert.Equal(0, rig.Forwarded.SourcesWithSeveralIds);
        FaultSuiteRig.AssertMode(batching, batches);
        await rig.AssertAccountedAsync(ids);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    public async Task Consumer_process_killed_mid_handler_has_the_message_redelivered_and_applied_once(int batching)
    {
        await using var rig = await FaultSuiteRig.StartAsync(Node, "consumer");
        const int messages = 30;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        // Per-message: a chosen message stalls. Batched: the last member of the first batch of more than one stalls, so
        // every member of that batch has run inside its one transaction when the process dies.
        var settings = batching > 1 ? rig.Settings(concurrency: 8, batching: batching) : rig.Settings(concurrency: 4);

        await using var first = await FaultHostProcess.StartAsync(batching > 1 ? settings with { StallInBatch = true } : settings with { StallOn = ids[10] });
        var producer = Producer(rig.Producer, rig.WorkAddress, ids);
        await producer.RunAsync(lanes: 1, pace: TimeSpan.Zero);
        await first.WaitForLineAsync(l => l.StartsWith("STALLED ", StringComparison.Ordinal), Recovery,
            batching > 1 ? "the consumer is inside the handler of the last member of a batch of more than one" : "the consumer is inside the handler of the chosen message");
        var stalled = Guid.Parse(first.Lines.First(l => l.StartsWith("STALLED ", StringComparison.Ordinal))[8..]);
        // Per-message: the stalled message alone; batched: its batch, every member of which ran before the stall.
        var stalledBatch = batching > 1
            ? first.Batches.Of(stalled)?.MessageIds ?? throw new InvalidOperationException($"no BATCH line holds the stalled message {stalled}")
            : [stalled];
        await first.KillAsync();
        var appliedAfterKill = await rig.AppliedAsync();

        await using var second = await FaultHostProcess.StartAsync(settings);
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "every message is applied", TimeSpan.FromMilliseconds(250));
        await Eventually.True(() => rig.Forwarded.DistinctSources >= messages, Recovery, "every forwarded event arrives", TimeSpan.FromMilliseconds(250));
        await second.WaitForLineAsync(l => l.StartsWith($"HANDLING {stalled} redelivered=True", StringComparison.Ordinal), Recovery,
            "the stalled message is redelivered to the new process");

        var applied = await rig.AppliedAsync();
        var suppressedLines = second.Lines.Where(l => l.StartsWith("SUPPRESSED ", StringComparison.Ordinal)).Select(l => int.Parse(l[11..])).DefaultIfEmpty(0).Max();
        Report($"{nameof(Consumer_process_killed_mid_handler_has_the_message_redelivered_and_applied_once)}(batching: {batching})",
            ("sent", producer.Attempts), ("confirmed", producer.Confirmed.Count), ("consumed_first_process", first.Count("HANDLING ")),
            ("consumed_second_process", second.Count("HANDLING ")), ("stalled_batch_size", stalledBatch.Count),
            ("stalled_batch_applied_when_killed", stalledBatch.Count(appliedAfterKill.ContainsKey)), ("applied_when_killed", appliedAfterKill.Count),
            ("applied", applied.Count), ("duplicate_effects", applied.Values.Count(c => c > 1)), ("suppressed", suppressedLines),
            ("forwarded_distinct", rig.Forwarded.DistinctSources), ("batches_first_process", first.Batches), ("batches_second_process", second.Batches));

        Assert.Equal(messages, producer.Confirmed.Count);
        Assert.False(appliedAfterKill.ContainsKey(stalled), "the killed handler's transaction did not commit");
        // Batched: the whole batch ran in one transaction that died with the process; none of its members' effects committed.
        Assert.All(stalledBatch, id => Assert.False(appliedAfterKill.ContainsKey(id), $"member {id} of the stalled batch was applied before the kill"));
        Assert.All(stalledBatch, id => Assert.Contains(id, ids));
        FaultSuiteRig.AssertMode(batching, first.Batches);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        Assert.All(applied, a => Assert.Equal(1, a.Value));
        Assert.Equal(messages, rig.Forwarded.DistinctSources);
        Assert.Equal(0, rig.Forwarded.SourcesWithSeveralIds);
        await rig.AssertAccountedAsync(ids);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    public async Task Database_unreachable_for_seconds_loses_nothing_and_processing_resumes(int batching)
    {
        using var suppressed = new SuppressedCounter();
        await using var rig = await FaultSuiteRig.StartAsync(Node, "database");
        var target = new NpgsqlConnectionStringBuilder(rig.Database);
        await using var proxy = new TcpOutageProxy(target.Host!, target.Port);
        var throughProxy = new NpgsqlConnectionStringBuilder(rig.Database) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
        var hooks = new ConsumerHooks();
        await rig.StartConsumerAsync(rig.Settings(batching: batching) with { Postgres = throughProxy }, hooks);
        const int messages = 300;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var producer = Producer(rig.Producer, rig.WorkAddress, ids);

        // Batched: the stream is sent unpaced, so a backlog keeps batches running when the database goes away (a paced
        // stream that the consumer keeps up with arrives one message at a time, and a message alone runs unbatched).
        var sending = batching > 1 ? producer.RunAsync(lanes: 4, pace: TimeSpan.Zero) : producer.RunAsync(lanes: 2, pace: TimeSpan.FromMilliseconds(20));
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages / 4, Recovery, "a quarter is applied before the outage");
        proxy.Cut();
        var outage = TimeSpan.FromSeconds(4);
        var appliedAtCut = await rig.AppliedCountAsync();
        await Task.Delay(outage); // the outage itself: the database is unreachable for this long
        var appliedDuringOutage = await rig.AppliedCountAsync() - appliedAtCut;
        proxy.Restore();

        await sending;
        await producer.ResendUnconfirmedAsync(Recovery);
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "processing resumes and every message is applied", TimeSpan.FromMilliseconds(250));
        await Eventually.True(() => rig.Forwarded.DistinctSources >= messages, Recovery, "every forwarded event arrives", TimeSpan.FromMilliseconds(250));

        var applied = await rig.AppliedAsync();
        var batches = rig.Batches;
        Report($"{nameof(Database_unreachable_for_seconds_loses_nothing_and_processing_resumes)}(batching: {batching})",
            ("messages", messages), ("sent", producer.Attempts), ("confirmed", producer.Confirmed.Count), ("outage_s", outage.TotalSeconds),
            ("connections_cut_or_refused", proxy.Refused), ("applied_at_cut", appliedAtCut), ("applied_during_outage", appliedDuringOutage),
            ("consumed", hooks.Handled), ("applied", applied.Count), ("duplicate_effects", applied.Values.Count(c => c > 1)),
            ("suppressed", suppressed.Count), ("forwarded_distinct", rig.Forwarded.DistinctSources), ("batches", batches));

        Assert.True(proxy.Refused > 0, "the outage cut the consumer's connections");
        Assert.True(appliedAtCut < messages, "the outage came mid-stream");
        Assert.Equal(messages, producer.Confirmed.Count);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        Assert.All(applied, a => Assert.Equal(1, a.Value));
        Assert.Equal(messages, rig.Forwarded.DistinctSources);
        Assert.Equal(0, rig.Forwarded.SourcesWithSeveralIds);
        FaultSuiteRig.AssertMode(batching, batches);
        if (batching > 1)
            Assert.True(batches.Splits + batches.MemberFailures > 0, $"the outage hit a batch (split or member failures): {batches}");
        // Nothing in _error (nor any other sibling of the work queue): every message got through its retries.
        await rig.AssertAccountedAsync(ids);
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 0)]
    [InlineData(true, 4)]
    public async Task Crash_between_commit_and_acknowledgement_is_redelivered_and_the_inbox_suppresses_it(bool inbox, int batching)
    {
        await using var rig = await FaultSuiteRig.StartAsync(Node, inbox ? "crash" : "noinbox");
        // Per-message: one at a time, the process dies after the third message's commit. Batched: four at a time, batches
        // of up to four; the process dies after the commit of the first message whose batch had more than one member,
        // its batch-mates committed with it and acknowledged or not.
        var batched = batching > 1;
        var messages = batched ? 12 : 5;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var settings = (batched ? rig.Settings(concurrency: 4, batching: batching) : rig.Settings(concurrency: 1)) with { Inbox = inbox };

        await using var first = await FaultHostProcess.StartAsync(batched ? settings with { CrashInBatch = true } : settings with { CrashAfterCommit = ids[2] });
        var producer = Producer(rig.Producer, rig.WorkAddress, ids);
        await producer.RunAsync(lanes: 1, pace: TimeSpan.Zero);
        await first.WaitForLineAsync(l => l.StartsWith("COMMITTED ", StringComparison.Ordinal), Recovery,
            batched ? "the consumer committed a batch of more than one" : "the consumer committed the chosen message");
        await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        var crashOn = Guid.Parse(first.Lines.First(l => l.StartsWith("COMMITTED ", StringComparison.Ordinal))[10..]);
        var crashedBatch = batched
            ? first.Batches.Of(crashOn)?.MessageIds ?? throw new InvalidOperationException($"no BATCH line holds the crashed message {crashOn}")
            : [crashOn];
        var committed = await rig.AppliedAsync();

        await using var second = await FaultHostProcess.StartAsync(settings);
        await second.WaitForLineAsync(l => l.StartsWith($"HANDLING {crashOn}", StringComparison.Ordinal) || l.StartsWith("SUPPRESSED ", StringComparison.Ordinal),
            Recovery, "the unacknowledged message is redelivered to the new process");
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "every message is applied", TimeSpan.FromMilliseconds(250));

        var applied = await rig.AppliedAsync();
        var suppressed = second.Lines.Where(l => l.StartsWith("SUPPRESSED ", StringComparison.Ordinal)).Select(l => int.Parse(l[11..])).DefaultIfEmpty(0).Max();
        Report($"{nameof(Crash_between_commit_and_acknowledgement_is_redelivered_and_the_inbox_suppresses_it)}(inbox: {inbox}, batching: {batching})",
            ("sent", producer.Attempts), ("confirmed", producer.Confirmed.Count), ("committed_before_crash", committed.ContainsKey(crashOn)),
            ("applied_at_crash", committed.Count), ("crashed_batch_size", crashedBatch.Count), ("crashed_batch_committed", crashedBatch.Count(committed.ContainsKey)),
            ("consumed_first_process", first.Count("HANDLING ")), ("consumed_second_process", second.Count("HANDLING ")),
            ("suppressed", suppressed), ("applied", applied.Count), ("effect_count_of_crashed", applied[crashOn]),
            ("duplicate_effects", applied.Values.Count(c => c > 1)), ("batches_first_process", first.Batches), ("batches_second_process", second.Batches));

        Assert.Equal(1, committed[crashOn]);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        FaultSuiteRig.AssertMode(batching, first.Batches);
        if (batched)
        {
            // The batch committed as a whole before the crash; the redelivered members are suppressed, none runs again. So is
            // any message that ran alone beside the batch (a message arriving alone runs unbatched, concurrently) and committed
            // unacknowledged: the copies suppressed are at least the crashed one, at most what was committed and unacknowledged
            // at once (the prefetch, = concurrency). Seen: a batch of 2 crashed while two lone messages had committed, 4 suppressed.
            Assert.All(crashedBatch, id => Assert.Equal(1, committed.GetValueOrDefault(id)));
            Assert.All(committed.Keys, id => Assert.DoesNotContain(second.Lines, l => l.StartsWith($"HANDLING {id}", StringComparison.Ordinal)));
            Assert.InRange(suppressed, 1, Math.Min(committed.Count, settings.Concurrency));
            Assert.All(applied, a => Assert.Equal(1, a.Value));
        }
        else if (inbox)
        {
            Assert.Equal("SUPPRESSED 1", second.Lines.Single(l => l.StartsWith("SUPPRESSED ", StringComparison.Ordinal)));
            Assert.DoesNotContain(second.Lines, l => l.StartsWith($"HANDLING {crashOn}", StringComparison.Ordinal));
            Assert.All(applied, a => Assert.Equal(1, a.Value));
        }
        else
        {
            // The control: without the inbox the redelivery runs the handler again and the effect doubles.
            Assert.Contains(second.Lines, l => l.StartsWith($"HANDLING {crashOn} redelivered=True", StringComparison.Ordinal));
            Assert.Equal(2, applied[crashOn]);
        }
        await rig.AssertAccountedAsync(ids);
    }
}
