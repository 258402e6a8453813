using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.ThreadDelegate.Messages;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.ThreadDelegate;

public sealed class ThreadDelegateTests
{
    static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The property: over many random runs (keys, send interleaving, worker count, allocation, buffer
    /// bounds, processing delays, transient failures retried in place), each key's messages complete
    /// in the order they were sent, every message exactly once, never two of a key at once.
    /// </summary>
    [Fact]
    public async Task Per_key_completion_order_equals_send_order_over_many_random_runs()
    {
        const int runs = 14;
        for (var run = 0; run < runs; run++)
        {
            var seed = 7919 * (run + 1);
            var random = new Random(seed);
            var keyCount = random.Next(1, 25);
            var workers = random.Next(1, 9);
            var count = random.Next(150, 300);
            var allocation = random.Next(2) == 0 ? LaneAllocation.LeastLoaded : LaneAllocation.FixedHash;
            var maxBuffered = random.Next(1, 40);
            var perLane = random.Next(1, 10);
            var failureRate = random.NextDouble() * 0.2;

            var nextSeq = new Dictionary<string, int>();
            var messages = new List<KeyedWork>(count);
            for (var i = 0; i < count; i++)
            {
                var key = "k" + random.Next(keyCount);
                var seq = nextSeq[key] = nextSeq.GetValueOrDefault(key, -1) + 1;
                messages.Add(new KeyedWork(key, seq,
                    DelayMs: random.Next(4), // 0 completes synchronously
                    TransientFailures: random.NextDouble() < failureRate ? random.Next(1, 3) : 0));
            }

            var description = $"run {run} (seed {seed}): {count} messages, {keyCount} keys, {workers} workers, {allocation}, buffer {maxBuffered}/{perLane} per lane";
            await using var harness = await ThreadDelegateHarness.StartAsync(o =>
            {
                o.Workers = workers;
                o.Allocation = allocation;
                o.MaxBuffered = maxBuffered;
                o.MaxBufferedPerLane = perLane;
            }, retries: 3);

            await harness.SendAsync(messages);
            await Eventually.True(() => harness.Recorder.Completed == count, Deadline, () => $"all messages complete in {description} ({harness.Recorder.Completed} so far)");

            foreach (var (key, sent) in nextSeq)
            {
                var completed = harness.Recorder.CompletedOf(key);
                Assert.True(completed.SequenceEqual(Enumerable.Range(0, sent + 1)),
                    $"{description}: key {key} completed [{string.Join(",", completed)}], sent 0..{sent}");
            }
            Assert.Equal(1, harness.Recorder.MaxActivePerKey);
            Assert.True(harness.Recorder.MaxActive <= workers, $"{description}: {harness.Recorder.MaxActive} ran at once with {workers} workers");
            await harness.Harness.Stop();
        }
    }

    [Fact]
    public async Task Different_keys_run_in_parallel_up_to_the_worker_count_and_one_key_never_does()
    {
        const int workers = 4;
        await using var harness = await ThreadDelegateHarness.StartAsync(o => o.Workers = workers);

        // Six keys, three messages each, all held at a gate: exactly `workers` lanes can be busy.
        var messages = Enumerable.Range(0, 3).SelectMany(seq => Enumerable.Range(0, 6).Select(k => new KeyedWork($"key{k}", seq, WaitForGate: true)));
        await harness.SendAsync(messages);

        await Eventually.True(() => harness.Recorder.Active == workers, Deadline, $"{workers} keys in progress at once");
        Assert.Equal(workers, harness.Snapshot.LanesBusy);
        Assert.Equal(6, harness.Snapshot.KeysInFlight);

        harness.Recorder.Gate.SetResult();
        await Eventually.True(() => harness.Recorder.Completed == 18, Deadline, "all complete");
        Assert.Equal(workers, harness.Recorder.MaxActive);
        Assert.Equal(1, harness.Recorder.MaxActivePerKey);
        foreach (var key in harness.Recorder.Keys)
            Assert.Equal([0, 1, 2], harness.Recorder.CompletedOf(key));
    }

    [Fact]
    public async Task A_permanently_failing_message_of_key_K_does_not_delay_key_J()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o => o.Workers = 2, retries: 2);

        // K's first message is stuck in its in-lane retries (held at the gate) and will fail for good.
        await harness.SendAsync([new KeyedWork("K", 0, WaitForGate: true, FailPermanently: true), new KeyedWork("K", 1)]);
        await Eventually.True(() => harness.Recorder.Active == 1, Deadline, "K#0 in progress");
        await harness.SendAsync(Enumerable.Range(0, 20).Select(i => new KeyedWork("J", i, DelayMs: 1)));

        await Eventually.True(() => harness.Recorder.CompletedOf("J").Count == 20, Deadline, "all of J completes while K#0 is still failing");
        Assert.False(harness.Recorder.Gate.Task.IsCompleted);
        Assert.Empty(harness.Recorder.CompletedOf("K"));
        Assert.Equal(Enumerable.Range(0, 20), harness.Recorder.CompletedOf("J"));

        harness.Recorder.Gate.SetResult();
        Assert.True(await harness.Harness.Published.Any<Fault<KeyedWork>>(f => f.Context.Message.Message.Key == "K" && f.Context.Message.Message.Seq == 0),
            "K#0 faults (to the error queue) after its retries");
        // Release (the default): K's next message goes on after the failure, not before it.
        await Eventually.True(() => harness.Recorder.CompletedOf("K").SequenceEqual([1]), Deadline, "K#1 completes after K#0 failed");
    }

    [Fact]
    public async Task A_held_key_sends_its_later_messages_to_the_error_queue_in_order_until_released_and_other_keys_go_on()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 2;
            o.FailedKey = FailedKeyBehavior.Hold;
        }, retries: 1);

        await harness.SendAsync([new KeyedWork("K", 0, FailPermanently: true), new KeyedWork("K", 1), new KeyedWork("K", 2), new KeyedWork("J", 0)]);

        await Eventually.True(() => harness.Recorder.CompletedOf("J").Count == 1, Deadline, "J is not held");
        await Eventually.True(async () => (await harness.Harness.Published.Now<ReceiveFault>(f => f.Context.Message.Exceptions.Any(e => e.ExceptionType.Contains(nameof(ThreadDelegateKeyHeldException))))).Count == 2,
            Deadline, "K#1 and K#2 fault with the key held");
        Assert.Equal(2, (await harness.Harness.Published.Settled<ReceiveFault>()).Count);
        Assert.Empty(harness.Recorder.CompletedOf("K"));
        var held = Assert.Single(harness.Control.HeldKeys);
        Assert.Equal("K", held.Key);
        Assert.Equal(1, harness.Snapshot.KeysHeld);

        Assert.True(harness.Control.Release("K"));
        Assert.Empty(harness.Control.HeldKeys);
        await harness.SendAsync([new KeyedWork("K", 3)]);
        await Eventually.True(() => harness.Recorder.CompletedOf("K").SequenceEqual([3]), Deadline, "K goes on once released");
    }

    [Fact]
    public async Task A_message_without_a_key_faults_to_the_error_queue_and_the_endpoint_goes_on()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o => o.Workers = 2);

        await harness.SendAsync([new KeyedWork(null, 0), new KeyedWork("", 1), new KeyedWork("A", 0)]);

        await Eventually.True(() => harness.Recorder.CompletedOf("A").Count == 1, Deadline, "the keyed message after them is consumed");
        await Eventually.True(async () => (await harness.Harness.Published.Now<ReceiveFault>(f => f.Context.Message.Exceptions.Any(e => e.ExceptionType.Contains(nameof(ThreadDelegateKeyMissingException))))).Count == 2,
            Deadline, "both unkeyed messages fault with ThreadDelegateKeyMissingException (moved to the error queue)");
        Assert.Equal(0, harness.Recorder.Started - harness.Recorder.CompletedOf("A").Count);
    }

    [Fact]
    public async Task With_a_default_lane_messages_without_a_key_run_in_order_under_the_default_key()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 4;
            o.MissingKey = MissingKeyBehavior.DefaultLane;
        });

        await harness.SendAsync(Enumerable.Range(0, 30).Select(i => new KeyedWork(i % 2 == 0 ? null : "", i, DelayMs: i % 3)));

        await Eventually.True(() => harness.Recorder.Completed == 30, Deadline, "all unkeyed messages consumed");
        Assert.Equal(Enumerable.Range(0, 30), harness.Recorder.CompletedOf("(none)"));
        Assert.Equal(1, harness.Recorder.MaxActivePerKey);
    }

    [Fact]
    public async Task Buffered_messages_stay_within_the_total_and_per_lane_bounds_under_a_hot_key()
    {
        const int workers = 3, maxBuffered = 6, perLane = 2;
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = workers;
            o.MaxBuffered = maxBuffered;
            o.MaxBufferedPerLane = perLane;
        });
        var probe = harness.Provider.GetRequiredService<IQueueDepthProbe>();

        // One hot key and a few cold ones: everything waits at the gate until the buffers are full.
        var messages = Enumerable.Range(0, 60).Select(i => new KeyedWork(i % 10 == 9 ? $"cold{i}" : "hot", i, WaitForGate: true)).ToList();
        await harness.SendAsync(RenumberPerKey(messages));

        long maxHeld = 0;
        await Eventually.True(async () =>
        {
            var depth = await probe.GetDepthAsync(ThreadDelegateHarness.Queue);
            maxHeld = Math.Max(maxHeld, depth.Unacknowledged ?? 0);
            return depth.Unacknowledged == workers + maxBuffered;
        }, Deadline, $"the endpoint holds Workers + MaxBuffered = {workers + maxBuffered} deliveries");

        var snapshot = harness.Snapshot;
        Assert.True(snapshot.Buffered <= maxBuffered, $"buffered {snapshot.Buffered}");
        Assert.All(snapshot.WaitingPerLane, waiting => Assert.True(waiting <= perLane, $"a lane holds {waiting} waiting"));
        Assert.True((await probe.GetDepthAsync(ThreadDelegateHarness.Queue)).Ready > 0, "the rest stays with the transport");

        harness.Recorder.Gate.SetResult();
        await Eventually.True(async () =>
        {
            var depth = await probe.GetDepthAsync(ThreadDelegateHarness.Queue);
            maxHeld = Math.Max(maxHeld, depth.Unacknowledged ?? 0);
            return harness.Recorder.Completed == 60;
        }, Deadline, "all complete", TimeSpan.FromMilliseconds(2));
        Assert.True(maxHeld <= workers + maxBuffered, $"held {maxHeld} at most");
        Assert.Equal(Enumerable.Range(0, harness.Recorder.CompletedOf("hot").Count), harness.Recorder.CompletedOf("hot"));
    }

    static IEnumerable<KeyedWork> RenumberPerKey(IEnumerable<KeyedWork> messages)
    {
        var next = new Dictionary<string, int>();
        foreach (var message in messages)
        {
            var seq = next[message.Key!] = next.GetValueOrDefault(message.Key!, -1) + 1;
            yield return message with { Seq = seq };
        }
    }

    [Fact]
    public async Task Stopping_the_bus_drains_every_delivered_message_before_it_returns()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 4;
            o.MaxBuffered = 40;
        });

        await harness.SendAsync(RenumberPerKey(Enumerable.Range(0, 40).Select(i => new KeyedWork($"k{i % 8}", 0, DelayMs: 20))));
        await Eventually.True(() => harness.Recorder.Completed >= 4, Deadline, "processing under way");

        await harness.Harness.Stop();

        // All 40 were delivered (they fit the buffer); stop waited for every one of them to finish.
        Assert.Equal(40, harness.Recorder.Completed);
        Assert.Equal(harness.Recorder.Started, harness.Recorder.Completed);
        var snapshot = harness.Snapshot;
        Assert.Equal(0, snapshot.LanesBusy);
        Assert.Equal(0, snapshot.Buffered);
        Assert.Equal(0, snapshot.KeysInFlight);
    }

    [Fact]
    public async Task Invalid_options_fail_the_bus_start_naming_the_option()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 0;
            o.FailedKey = FailedKeyBehavior.Hold;
            o.Control = null;
        }, start: false);

        var exception = await Assert.ThrowsAnyAsync<ConfigurationException>(() => harness.Harness.Start());

        Assert.Contains($"ThreadDelegateOptions[{ThreadDelegateHarness.Queue}].Workers", exception.Message);
        Assert.Contains($"ThreadDelegateOptions[{ThreadDelegateHarness.Queue}].Control", exception.Message);
    }

    [Fact]
    public void Options_without_any_key_are_invalid()
    {
        var failures = new ThreadDelegateOptions().CreateValidator("ThreadDelegateOptions").Failures;

        Assert.Contains(failures, f => f.Option == "ThreadDelegateOptions.Keys");
    }

    [Fact]
    public async Task Sticky_lanes_keep_a_key_in_flight_on_its_lane_and_a_new_key_takes_the_least_loaded_lane()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o => o.Workers = 2);

        // A busy (two messages held), then B: B must not queue behind A, so it takes the other lane.
        await harness.SendAsync([new KeyedWork("A", 0, WaitForGate: true), new KeyedWork("A", 1), new KeyedWork("B", 0)]);
        await Eventually.True(() => harness.Recorder.CompletedOf("B").Count == 1, Deadline, "B runs beside the busy A");
        Assert.Empty(harness.Recorder.CompletedOf("A")); // the gate is shut: B did not wait for A
        // B's consumer has returned; its lane is free once the filter has seen it finish (a moment later).
        await Eventually.True(() => harness.Snapshot is { LanesBusy: 1, Buffered: 1 }, Deadline,
            "one lane busy with A#0, A#1 waiting on A's lane, not on B's");

        harness.Recorder.Gate.TrySetResult();
        await Eventually.True(() => harness.Recorder.CompletedOf("A").Count == 2, Deadline, "A completes in order");
        Assert.Equal([0, 1], harness.Recorder.CompletedOf("A"));
    }
}

/// <summary>
/// The exact-order sequencer (what RabbitMQ delivery tags drive) on the in-memory transport: the
/// producer numbers its deliveries 1, 2, 3... in a header, standing in for the broker's delivery tag.
/// The in-memory gate is not used then, so deliveries do reach the filter out of order, and the
/// sequencer alone must restore send order.
/// </summary>
public sealed class ThreadDelegateSequencerTests
{
    const string PositionHeader = "test-delivery-position";

    sealed class HeaderDeliveryOrder : IDeliveryOrder
    {
        public bool TryGetPosition(ReceiveContext context, out object stream, out long position)
        {
            stream = "stream";
            position = context.TransportHeaders.Get<long>(PositionHeader) ?? 0;
            return position > 0;
        }
    }

    [Fact]
    public async Task Deliveries_reaching_the_filter_out_of_order_are_admitted_in_position_order()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 16;
            o.MaxBuffered = 48;
            o.DeliveryOrder = new HeaderDeliveryOrder();
        });
        var random = new Random(5);
        var next = new Dictionary<string, int>();
        var endpoint = await harness.Harness.Bus.GetSendEndpoint(new Uri($"queue:{ThreadDelegateHarness.Queue}"));
        const int count = 1200;
        for (var i = 0; i < count; i++)
        {
            var key = "k" + random.Next(32);
            var seq = next[key] = next.GetValueOrDefault(key, -1) + 1;
            var position = i + 1L;
            await endpoint.Send(new KeyedWork(key, seq, DelayMs: random.Next(2, 7)), c => c.Headers.Set(PositionHeader, position));
        }

        await Eventually.True(() => harness.Recorder.Completed == count, TimeSpan.FromSeconds(30), "all complete");
        foreach (var (key, last) in next)
            Assert.Equal(Enumerable.Range(0, last + 1), harness.Recorder.CompletedOf(key));
    }

    [Fact]
    public async Task A_position_that_never_arrives_is_skipped_after_the_gap_timeout_and_later_deliveries_go_on()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 2;
            o.DeliveryOrder = new HeaderDeliveryOrder();
            o.SequenceGapTimeout = TimeSpan.FromMilliseconds(300);
        });
        var endpoint = await harness.Harness.Bus.GetSendEndpoint(new Uri($"queue:{ThreadDelegateHarness.Queue}"));

        // Position 2 is never delivered (as when the transport drops a delivery while stopping).
        await endpoint.Send(new KeyedWork("A", 0), c => c.Headers.Set(PositionHeader, 1L));
        await endpoint.Send(new KeyedWork("A", 1), c => c.Headers.Set(PositionHeader, 3L));
        await endpoint.Send(new KeyedWork("B", 0), c => c.Headers.Set(PositionHeader, 4L));

        await Eventually.True(() => harness.Recorder.Completed == 3, TimeSpan.FromSeconds(10), "the deliveries after the gap go on once it is skipped");
        Assert.Equal([0, 1], harness.Recorder.CompletedOf("A"));
    }
}
