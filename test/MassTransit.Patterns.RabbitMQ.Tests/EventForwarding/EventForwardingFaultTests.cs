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
/// consumed (handler runs) and applied, and writes the counts to the test output.
/// </summary>
public sealed class EventForwardingFaultTests(ThrowawayRabbitNodeFixture fixture, ITestOutputHelper output) : IClassFixture<ThrowawayRabbitNodeFixture>
{
    static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);

    ThrowawayRabbitNode Node => fixture.Node;

    /// <summary>Producer lanes that send their share of <paramref name="ids"/>, paced, and remember what the broker did not confirm.</summary>
    sealed class Producer(IEventForwarder forwarder, Uri destination, Guid[] ids)
    {
        int _attempts;

        public ConcurrentDictionary<Guid, int> Confirmed { get; } = new();

        public ConcurrentQueue<int> Unconfirmed { get; } = new();

        public int Attempts => Volatile.Read(ref _attempts);

        public int UnconfirmedCalls { get; private set; }

        public Task RunAsync(int lanes, TimeSpan pace) => Task.WhenAll(Enumerable.Range(0, lanes).Select(async lane =>
        {
            for (var i = lane; i < ids.Length; i += lanes)
            {
                await SendAsync(i);
                await Task.Delay(pace);
            }
        }));

        /// <summary>Sends the unconfirmed ones again, with their ids, until the broker confirms each (a producer that must not lose them).</summary>
        public async Task ResendUnconfirmedAsync(TimeSpan deadline)
        {
            var watch = Stopwatch.StartNew();
            while (Unconfirmed.TryDequeue(out var i))
            {
                if (watch.Elapsed > deadline)
                    throw new TimeoutException($"message {i} still unconfirmed after {deadline}");
                await SendAsync(i);
            }
        }

        async Task SendAsync(int i)
        {
            Interlocked.Increment(ref _attempts);
            try
            {
                await forwarder.Send(destination, new WorkOrdered(i), ids[i]);
                Confirmed[ids[i]] = i;
            }
            catch (MessageNotConfirmedException)
            {
                lock (Unconfirmed)
                    UnconfirmedCalls++;
                Unconfirmed.Enqueue(i);
            }
        }
    }

    void Report(string test, params (string Name, object Value)[] counts) =>
        output.WriteLine($"{test}: " + string.Join(", ", counts.Select(c => $"{c.Name}={c.Value}")));

    [Fact]
    public async Task Broker_killed_and_restarted_mid_stream_loses_no_confirmed_message_and_applies_each_once()
    {
        using var suppressed = new SuppressedCounter();
        await using var rig = await FaultSuiteRig.StartAsync(Node, "broker");
        var hooks = new ConsumerHooks();
        await rig.StartConsumerAsync(rig.Settings(), hooks);
        const int messages = 400;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var producer = new Producer(rig.Producer, rig.WorkAddress, ids);

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
        Report(nameof(Broker_killed_and_restarted_mid_stream_loses_no_confirmed_message_and_applies_each_once),
            ("messages", messages), ("sent", producer.Attempts), ("unconfirmed_then_resent", producer.UnconfirmedCalls), ("confirmed", producer.Confirmed.Count),
            ("confirmed_at_kill", confirmedAtKill), ("applied_at_kill", appliedAtKill), ("consumed", hooks.Handled), ("applied", applied.Count),
            ("duplicate_effects", applied.Values.Count(c => c > 1)), ("suppressed", suppressed.Count), ("forwarded", rig.Forwarded.Received.Count),
            ("forwarded_distinct", rig.Forwarded.DistinctSources));

        Assert.True(confirmedAtKill < messages, "the broker died mid-stream");
        Assert.Equal(messages, producer.Confirmed.Count);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        Assert.All(applied, a => Assert.Equal(1, a.Value));
        Assert.True(hooks.Handled >= messages, "every message was handled at least once");
        Assert.Equal(messages, rig.Forwarded.DistinctSources);
        Assert.Equal(0, rig.Forwarded.SourcesWithSeveralIds);
        await rig.AssertAccountedAsync(ids);
    }

    [Fact]
    public async Task Consumer_process_killed_mid_handler_has_the_message_redelivered_and_applied_once()
    {
        await using var rig = await FaultSuiteRig.StartAsync(Node, "consumer");
        const int messages = 30;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var stalled = ids[10];

        await using var first = await FaultHostProcess.StartAsync(rig.Settings(concurrency: 4) with { StallOn = stalled });
        var producer = new Producer(rig.Producer, rig.WorkAddress, ids);
        await producer.RunAsync(lanes: 1, pace: TimeSpan.Zero);
        await first.WaitForLineAsync(l => l == $"STALLED {stalled}", Recovery, "the consumer is inside the handler of the chosen message");
        await first.KillAsync();
        var appliedAfterKill = await rig.AppliedAsync();

        await using var second = await FaultHostProcess.StartAsync(rig.Settings(concurrency: 4));
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "every message is applied", TimeSpan.FromMilliseconds(250));
        await Eventually.True(() => rig.Forwarded.DistinctSources >= messages, Recovery, "every forwarded event arrives", TimeSpan.FromMilliseconds(250));
        await second.WaitForLineAsync(l => l.StartsWith($"HANDLING {stalled} redelivered=True", StringComparison.Ordinal), Recovery,
            "the stalled message is redelivered to the new process");

        var applied = await rig.AppliedAsync();
        var suppressedLines = second.Lines.Where(l => l.StartsWith("SUPPRESSED ", StringComparison.Ordinal)).Select(l => int.Parse(l[11..])).DefaultIfEmpty(0).Max();
        Report(nameof(Consumer_process_killed_mid_handler_has_the_message_redelivered_and_applied_once),
            ("sent", producer.Attempts), ("confirmed", producer.Confirmed.Count), ("consumed_first_process", first.Count("HANDLING ")),
            ("consumed_second_process", second.Count("HANDLING ")), ("applied_when_killed", appliedAfterKill.Count), ("applied", applied.Count),
            ("duplicate_effects", applied.Values.Count(c => c > 1)), ("suppressed", suppressedLines), ("forwarded_distinct", rig.Forwarded.DistinctSources));

        Assert.Equal(messages, producer.Confirmed.Count);
        Assert.False(appliedAfterKill.ContainsKey(stalled), "the killed handler's transaction did not commit");
        Assert.Equal(ids.Order(), applied.Keys.Order());
        Assert.All(applied, a => Assert.Equal(1, a.Value));
        Assert.Equal(messages, rig.Forwarded.DistinctSources);
        Assert.Equal(0, rig.Forwarded.SourcesWithSeveralIds);
        await rig.AssertAccountedAsync(ids);
    }

    [Fact]
    public async Task Database_unreachable_for_seconds_loses_nothing_and_processing_resumes()
    {
        using var suppressed = new SuppressedCounter();
        await using var rig = await FaultSuiteRig.StartAsync(Node, "database");
        var target = new NpgsqlConnectionStringBuilder(rig.Database);
        await using var proxy = new TcpOutageProxy(target.Host!, target.Port);
        var throughProxy = new NpgsqlConnectionStringBuilder(rig.Database) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
        var hooks = new ConsumerHooks();
        await rig.StartConsumerAsync(rig.Settings() with { Postgres = throughProxy }, hooks);
        const int messages = 300;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var producer = new Producer(rig.Producer, rig.WorkAddress, ids);

        var sending = producer.RunAsync(lanes: 2, pace: TimeSpan.FromMilliseconds(20));
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
        Report(nameof(Database_unreachable_for_seconds_loses_nothing_and_processing_resumes),
            ("messages", messages), ("sent", producer.Attempts), ("confirmed", producer.Confirmed.Count), ("outage_s", outage.TotalSeconds),
            ("connections_cut_or_refused", proxy.Refused), ("applied_at_cut", appliedAtCut), ("applied_during_outage", appliedDuringOutage),
            ("consumed", hooks.Handled), ("applied", applied.Count), ("duplicate_effects", applied.Values.Count(c => c > 1)),
            ("suppressed", suppressed.Count), ("forwarded_distinct", rig.Forwarded.DistinctSources));

        Assert.True(proxy.Refused > 0, "the outage cut the consumer's connections");
        Assert.True(appliedAtCut < messages, "the outage came mid-stream");
        Assert.Equal(messages, producer.Confirmed.Count);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        Assert.All(applied, a => Assert.Equal(1, a.Value));
        Assert.Equal(messages, rig.Forwarded.DistinctSources);
        Assert.Equal(0, rig.Forwarded.SourcesWithSeveralIds);
        await rig.AssertAccountedAsync(ids);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Crash_between_commit_and_acknowledgement_is_redelivered_and_the_inbox_suppresses_it(bool inbox)
    {
        await using var rig = await FaultSuiteRig.StartAsync(Node, inbox ? "crash" : "noinbox");
        const int messages = 5;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var crashOn = ids[2];

        await using var first = await FaultHostProcess.StartAsync(rig.Settings(concurrency: 1) with { CrashAfterCommit = crashOn, Inbox = inbox });
        var producer = new Producer(rig.Producer, rig.WorkAddress, ids);
        await producer.RunAsync(lanes: 1, pace: TimeSpan.Zero);
        await first.WaitForLineAsync(l => l == $"COMMITTED {crashOn}", Recovery, "the consumer committed the chosen message");
        await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        var committed = await rig.AppliedAsync();

        await using var second = await FaultHostProcess.StartAsync(rig.Settings(concurrency: 1) with { Inbox = inbox });
        await second.WaitForLineAsync(l => l.StartsWith($"HANDLING {crashOn}", StringComparison.Ordinal) || l.StartsWith("SUPPRESSED ", StringComparison.Ordinal),
            Recovery, "the unacknowledged message is redelivered to the new process");
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "every message is applied", TimeSpan.FromMilliseconds(250));

        var applied = await rig.AppliedAsync();
        Report($"{nameof(Crash_between_commit_and_acknowledgement_is_redelivered_and_the_inbox_suppresses_it)}(inbox: {inbox})",
            ("sent", producer.Attempts), ("confirmed", producer.Confirmed.Count), ("committed_before_crash", committed.ContainsKey(crashOn)),
            ("consumed_first_process", first.Count("HANDLING ")), ("consumed_second_process", second.Count("HANDLING ")),
            ("suppressed", second.Count("SUPPRESSED ")), ("applied", applied.Count), ("effect_count_of_crashed", applied[crashOn]),
            ("duplicate_effects", applied.Values.Count(c => c > 1)));

        Assert.Equal(1, committed[crashOn]);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        if (inbox)
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
