using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Ambulance.Messages;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>
/// Both modes on the test harness, with consumers held so that the test decides what is in flight:
/// queue concurrency 2, one lane slot.
/// </summary>
public sealed class AmbulanceModeTests
{
    static string UniqueQueue() => $"ambulance-mode-{Guid.NewGuid():N}"[..28];
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Ambulance_mode_lends_the_idle_lane_slot_to_normal_work_and_gives_the_next_freed_slot_to_the_urgent_message()
    {
        var queue = UniqueQueue();
        var laneQueue = queue + AmbulanceLaneOptions.DefaultSuffix;
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(queue, o =>
        {
            o.Mode = AmbulanceMode.Ambulance;
            o.ConcurrentMessageLimit = 1;
        }), queueConcurrency: 2, queue: queue);
        await using var _ = provider;
        recorder.Holding = true;
        try
        {
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));
            for (var i = 0; i < 10; i++)
                await endpoint.Send(new Job(i));

            // The queue's two slots and the idle lane slot all run normal work.
            await Eventually.True(() => recorder.HeldCount == 3, Timeout, "three normal messages in flight (2 own slots + the lane's)");
            Assert.Equal(3, recorder.InFlightNormal);

            await endpoint.Send(new Job(100), ctx => ctx.SetUrgent());
            // Every slot is busy: the urgent message waits at the shared budget for the work in flight.
            await Eventually.True(() => LaneDepth.Of(queue) == 1, Timeout, "the lane holds the urgent message");
            Assert.Equal(3, recorder.Seen.Count);
            recorder.ReleaseOne();

            await Eventually.True(() => recorder.Seen.Count == 4, Timeout, "the freed slot is taken");
            var fourth = recorder.Seen[3];
            Assert.Equal(100, fourth.Number);
            Assert.Equal(laneQueue, fourth.Queue);
            Assert.Equal(2, recorder.InFlightNormal);

            // Normal work goes on with its own slots while the urgent message runs.
            recorder.ReleaseOne();
            await Eventually.True(() => recorder.Seen.Count == 5, Timeout, "normal work continues");
            Assert.Equal(queue, recorder.Seen[4].Queue);
        }
        finally
        {
            recorder.ReleaseAll();
        }
    }

    [Fact]
    public async Task Carpool_mode_keeps_the_lane_slot_for_urgent_work_so_an_urgent_message_runs_while_normal_work_is_stuck()
    {
        var queue = UniqueQueue();
        var laneQueue = queue + AmbulanceLaneOptions.DefaultSuffix;
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(queue, o =>
        {
            o.Mode = AmbulanceMode.Carpool;
            o.ConcurrentMessageLimit = 1;
        }), queueConcurrency: 2, queue: queue);
        await using var _ = provider;
        recorder.Holding = true;
        try
        {
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));
            for (var i = 0; i < 10; i++)
                await endpoint.Send(new Job(i));
            await Eventually.True(() => recorder.HeldCount == 2, Timeout, "two normal messages in flight");

            await endpoint.Send(new Job(100), ctx => ctx.SetUrgent());

            // Nothing of the normal work is released, yet the urgent message runs on its own slot.
            await Eventually.True(() => recorder.Seen.Any(s => s.Number == 100), Timeout, "the urgent message starts at once");
            Assert.Equal(laneQueue, recorder.Seen.Single(s => s.Number == 100).Queue);
            Assert.Equal(2, recorder.PeakNormal);
            Assert.Equal(2, recorder.Seen.Count(s => s.Queue == queue));
        }
        finally
        {
            recorder.ReleaseAll();
        }

        await Eventually.True(() => recorder.Seen.Count == 11, Timeout, "everything consumed");
        Assert.Equal(2, recorder.PeakNormal);
    }

    [Fact]
    public async Task In_ambulance_mode_a_flood_of_urgent_messages_leaves_normal_work_its_own_slots()
    {
        var queue = UniqueQueue();
        var laneQueue = queue + AmbulanceLaneOptions.DefaultSuffix;
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(queue, o =>
        {
            o.Mode = AmbulanceMode.Ambulance;
            o.ConcurrentMessageLimit = 1;
        }), queueConcurrency: 2, queue: queue);
        await using var _ = provider;
        recorder.Holding = true;
        try
        {
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));
            for (var i = 0; i < 20; i++)
                await endpoint.Send(new Job(i));
            await Eventually.True(() => recorder.HeldCount == 3, Timeout, "normal work holds its two slots and the idle lane slot");
            for (var i = 0; i < 20; i++)
                await endpoint.Send(new Job(1000 + i), ctx => ctx.SetUrgent());
            await Eventually.True(() => LaneDepth.Of(queue) == 2, Timeout, "the lane's prefetch of urgent messages waits at the budget");

            // One freed slot goes to the urgent flood; from then on one urgent message holds the lane's slot,
            // the other 19 wait, and normal work keeps its two slots whatever is released.
            recorder.ReleaseOne();
            await Eventually.True(() => recorder.InFlightUrgent == 1 && recorder.InFlightNormal == 2, Timeout,
                "one urgent and two normal messages in flight");
            for (var round = 0; round < 4; round++)
            {
                recorder.ReleaseOne();
                var count = recorder.Seen.Count;
                await Eventually.True(() => recorder.Seen.Count == count + 1, Timeout, "the freed slot is taken");
                Assert.Equal(1, recorder.InFlightUrgent);
                Assert.Equal(2, recorder.InFlightNormal);
            }
            Assert.True(recorder.Seen.Count(s => s.Queue == queue) >= 3, "normal work progressed under the flood");
        }
        finally
        {
            recorder.ReleaseAll();
        }
    }
}
