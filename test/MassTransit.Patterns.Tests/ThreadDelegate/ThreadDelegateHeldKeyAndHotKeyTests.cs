using System.Collections.Concurrent;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.ThreadDelegate.Messages;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.ThreadDelegate;

/// <summary>Records the messages that reach an error queue, in the order they reach it.</summary>
public sealed class ErrorQueueRecorder
{
    readonly ConcurrentQueue<(string Key, int Seq)> _arrived = new();

    public IReadOnlyList<(string Key, int Seq)> Arrived => [.. _arrived];

    public void Add(string key, int seq) => _arrived.Enqueue((key, seq));
}

public sealed class ErrorQueueConsumer(ErrorQueueRecorder recorder) : IConsumer<KeyedWork>
{
    public Task Consume(ConsumeContext<KeyedWork> context)
    {
        recorder.Add(context.Message.Key ?? "", context.Message.Seq);
        return Task.CompletedTask;
    }
}

public sealed class ThreadDelegateHeldKeyAndHotKeyTests
{
    static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>
    /// FailedKey = Hold: the failed message and every later message of its key reach the error queue
    /// in the key's order (the key's next message starts only once the previous one has been moved).
    /// </summary>
    [Fact(Timeout = 120_000)]
    public async Task A_held_keys_messages_reach_the_error_queue_in_send_order()
    {
        const string queue = "td-held-order";
        const int held = 40, others = 60;
        await using var rig = await ThreadDelegateHeldKeyRig.StartAsync([queue], workers: 4, errorQueueOneAtATime: true);
        var (recorder, errors, control, harness) = (rig.Recorder, rig.Errors, rig.Control, rig.Harness);

        var messages = new List<KeyedWork> { new("K", 0, FailPermanently: true) };
        for (var i = 1; i <= Math.Max(held, others); i++)
        {
            if (i <= held)
                messages.Add(new KeyedWork("K", i));
            if (i <= others)
                messages.Add(new KeyedWork($"J{i % 6}", i / 6));
        }
        var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));
        foreach (var message in messages)
            await endpoint.Send(message);

        await Eventually.True(() => errors.Arrived.Count == held + 1 && recorder.Completed == others, Deadline,
            $"K#0..K#{held} in the error queue ({errors.Arrived.Count}) and the other keys consumed ({recorder.Completed})");
        Assert.Equal(Enumerable.Range(0, held + 1).Select(i => ("K", i)), errors.Arrived);
        Assert.Empty(recorder.CompletedOf("K"));
        Assert.Equal("K", Assert.Single(control.HeldKeys).Key);
    }

    /// <summary>
    /// With default buffers, a hot key whose backlog is stuck (its first message blocked) does not stop
    /// the other keys: they are admitted and complete while the hot key's messages wait.
    /// </summary>
    [Fact(Timeout = 120_000)]
    public async Task With_default_buffers_a_blocked_hot_key_does_not_stop_the_other_keys()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o => o.Workers = 4);

        const int hot = 60, cold = 60;
        var messages = new List<KeyedWork> { new("hot", 0, WaitForGate: true) };
        for (var i = 1; i < hot; i++)
            messages.Add(new KeyedWork("hot", i));
        for (var i = 0; i < cold; i++)
            messages.Add(new KeyedWork($"cold{i % 20}", i / 20));
        await harness.SendAsync(messages);

        try
        {
            await Eventually.True(() => harness.Recorder.Completed == cold, Deadline, () => $"the {cold} cold messages complete while hot#0 is blocked ({harness.Recorder.Completed} so far)");
            Assert.Empty(harness.Recorder.CompletedOf("hot"));
        }
        finally
        {
            harness.Recorder.Gate.TrySetResult(); // a failed assertion must not leave the bus stop waiting on hot#0
        }

        await Eventually.True(() => harness.Recorder.Completed == hot + cold, Deadline, "all complete once hot#0 goes on");
        Assert.Equal(Enumerable.Range(0, hot), harness.Recorder.CompletedOf("hot"));
        for (var k = 0; k < 20; k++)
            Assert.Equal([0, 1, 2], harness.Recorder.CompletedOf($"cold{k}"));
    }

    /// <summary>
    /// A full lane does not pause admission: the hot key's further messages wait on their key (inside
    /// the total bound) and other keys are admitted past them.
    /// </summary>
    [Fact(Timeout = 120_000)]
    public async Task A_full_lane_does_not_pause_admission_of_other_keys()
    {
        const int perLane = 4, maxBuffered = 60;
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 3;
            o.MaxBufferedPerLane = perLane;
            o.MaxBuffered = maxBuffered;
        });

        const int hot = 30, cold = 24;
        var messages = new List<KeyedWork> { new("hot", 0, WaitForGate: true) };
        for (var i = 1; i < hot; i++)
            messages.Add(new KeyedWork("hot", i));
        for (var i = 0; i < cold; i++)
            messages.Add(new KeyedWork($"cold{i % 8}", i / 8));
        await harness.SendAsync(messages);

        try
        {
            await Eventually.True(() => harness.Recorder.Completed == cold, Deadline, () => $"the cold keys complete past the full hot lane ({harness.Recorder.Completed} so far)");
            var snapshot = harness.Snapshot;
            Assert.All(snapshot.WaitingPerLane, waiting => Assert.True(waiting <= perLane, $"a lane holds {waiting} waiting"));
            Assert.True(snapshot.Buffered <= maxBuffered, $"buffered {snapshot.Buffered}");
        }
        finally
        {
            harness.Recorder.Gate.TrySetResult();
        }
        await Eventually.True(() => harness.Recorder.Completed == hot + cold, Deadline, "all complete");
        Assert.Equal(Enumerable.Range(0, hot), harness.Recorder.CompletedOf("hot"));
    }
}
