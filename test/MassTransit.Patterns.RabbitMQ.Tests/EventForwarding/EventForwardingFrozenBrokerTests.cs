using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.FaultHost;
using MassTransit.Patterns.FaultHost.Messages;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;

/// <summary>
/// Event forwarding with its broker hung mid-stream: the throwaway node of this class frozen with
/// kill -STOP for 12 s (connections stay open, nothing answers), then thawed. The producer resends what
/// was not confirmed, and every message is applied exactly once with its forwarded event arriving. A
/// send caught by the freeze ends within the policy's bound (send timeout and resends), not when the
/// broker answers again: before the attempt was bounded by the policy itself, such a send waited out the
/// whole freeze (8.5 s of an 8 s freeze with a 2 s send timeout). Runs in both modes of the EF Core inbox:
/// one transaction per message (<c>batching: 0</c>) and batched, where the run must have formed a batch of
/// more than one.
/// </summary>
public sealed class EventForwardingFrozenBrokerTests(ThrowawayRabbitNodeFixture fixture, ITestOutputHelper output) : IClassFixture<ThrowawayRabbitNodeFixture>
{
    static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);
    static readonly TimeSpan Freeze = TimeSpan.FromSeconds(12);

    // FaultSuiteRig's policy: SendTimeout 2 s, ResendLimit 2, ResendInterval 200 ms (doubling): at most
    // three attempts and two waits (6.6 s), plus slack for a loaded machine; well under the 12 s freeze, which a
    // send waited out whole while an attempt could ignore its token.
    static readonly TimeSpan SendBound = TimeSpan.FromSeconds(3 * 2 + 0.2 + 0.4 + 2);

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    public async Task Broker_frozen_mid_stream_loses_no_confirmed_message_and_applies_each_once_with_its_forwarded_event(int batching)
    {
        using var suppressed = new SuppressedCounter();
        await using var rig = await FaultSuiteRig.StartAsync(fixture.Node, "frozen");
        var hooks = new ConsumerHooks();
        await rig.StartConsumerAsync(rig.Settings(batching: batching), hooks);
        const int messages = 300;
        var ids = Enumerable.Range(0, messages).Select(_ => NewId.NextGuid()).ToArray();
        var confirmed = new ConcurrentDictionary<Guid, int>();
        var unconfirmed = new ConcurrentQueue<int>();
        var calls = new ConcurrentQueue<(TimeSpan Start, TimeSpan Took, bool Confirmed)>();
        var clock = Stopwatch.StartNew();
        var attempts = 0;

        async Task Send(int i)
        {
            Interlocked.Increment(ref attempts);
            var start = clock.Elapsed;
            try
            {
                await rig.Producer.Send(rig.WorkAddress, new WorkOrdered(i), ids[i]);
                confirmed[ids[i]] = i;
                calls.Enqueue((start, clock.Elapsed - start, true));
            }
            catch (MessageNotConfirmedException)
            {
                calls.Enqueue((start, clock.Elapsed - start, false));
                unconfirmed.Enqueue(i);
            }
        }

        var sending = Task.WhenAll(Enumerable.Range(0, 4).Select(async lane =>
        {
            for (var i = lane; i < messages; i += 4)
            {
                await Send(i);
                await Task.Delay(20);
            }
        }));
        await Eventually.True(() => confirmed.Count >= messages / 3, Recovery, "a third of the stream is confirmed");
        var appliedAtFreeze = await rig.AppliedCountAsync();
        TimeSpan frozenAt, thawedAt;
        await using (var frozen = FrozenNode.FreezeListener(fixture.Node.AmqpPort, "event forwarding's throwaway node"))
        {
            frozenAt = clock.Elapsed;
            await Task.Delay(Freeze, TestContext.Current.CancellationToken);
            thawedAt = clock.Elapsed;
        }
        await sending;
        var resends = 0;
        var resendWatch = Stopwatch.StartNew();
        while (unconfirmed.TryDequeue(out var again))
        {
            Assert.True(resendWatch.Elapsed < Recovery, $"message {again} still unconfirmed after {Recovery}");
            resends++;
            await Send(again);
        }
        await Eventually.True(async () => await rig.AppliedCountAsync() >= messages, Recovery, "every confirmed message is applied", TimeSpan.FromMilliseconds(250));
        await Eventually.True(() => rig.Forwarded.DistinctSources >= messages, Recovery, "every forwarded event arrives downstream", TimeSpan.FromMilliseconds(250));

        var applied = await rig.AppliedAsync();
        var duringFreeze = calls.Where(c => c.Start < thawedAt && c.Start + c.Took > frozenAt).ToArray();
        var longest = duringFreeze.Select(c => c.Took).DefaultIfEmpty().Max();
        var batches = rig.Batches;
        output.WriteLine($"frozen {Freeze.TotalSeconds:0} s (batching: {batching}): messages={messages}, sent={attempts}, resent={resends}, confirmed={confirmed.Count}, " +
            $"calls_overlapping_freeze={duringFreeze.Length} (unconfirmed {duringFreeze.Count(c => !c.Confirmed)}), longest_call_s={longest.TotalSeconds:0.0} (policy bound {SendBound.TotalSeconds:0.0}), " +
            $"applied_at_freeze={appliedAtFreeze}, consumed={hooks.Handled}, applied={applied.Count}, duplicate_effects={applied.Values.Count(c => c > 1)}, " +
            $"suppressed={suppressed.Count}, forwarded={rig.Forwarded.Received.Count}, forwarded_distinct={rig.Forwarded.DistinctSources}, batches={batches}");

        Assert.True(appliedAtFreeze < messages, "the broker hung mid-stream");
        Assert.NotEmpty(duringFreeze);   // sends were caught by the freeze
        Assert.True(longest <= SendBound, $"a send caught by the freeze took {longest.TotalSeconds:0.0} s, over the policy's bound {SendBound.TotalSeconds:0.0} s");
        Assert.Equal(messages, confirmed.Count);
        Assert.Equal(ids.Order(), applied.Keys.Order());
        Assert.All(applied, a => Assert.Equal(1, a.Value));
        Assert.Equal(messages, rig.Forwarded.DistinctSources);
        Assert.Equal(0, rig.Forwarded.SourcesWithSeveralIds);
        FaultSuiteRig.AssertMode(batching, batches);
        await rig.AssertAccountedAsync(ids);
    }
}
