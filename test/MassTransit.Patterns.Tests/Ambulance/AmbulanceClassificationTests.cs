using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Ambulance.Messages;
using MassTransit.Testing;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>The send-side classifier on the test harness: predicate, header and attribute each route to the lane.</summary>
public sealed class AmbulanceClassificationTests
{
    const string Lane = AmbulanceHarness.Queue + AmbulanceLaneOptions.DefaultSuffix;

    static async Task<IReadOnlyList<Seen>> SendAndWait(Recorder recorder, ITestHarness harness, int expected, Func<ISendEndpoint, Task> send)
    {
        var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{AmbulanceHarness.Queue}"));
        await send(endpoint);
        await Eventually.True(() => recorder.Seen.Count >= expected, TimeSpan.FromSeconds(10), $"{expected} messages consumed");
        // Nothing more arrives: a lane copy consumed at the queue would show up as a duplicate.
        await harness.InactivityTask;
        return recorder.Seen;
    }

    [Fact]
    public async Task A_message_matching_a_predicate_is_consumed_on_the_lane_and_others_on_the_queue()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a =>
        {
            a.Urgent<Job>(j => j.Express);
            a.Endpoint(AmbulanceHarness.Queue);
        });
        await using var _ = provider;

        var seen = await SendAndWait(recorder, harness, 2, async e =>
        {
            await e.Send(new Job(1, Express: true));
            await e.Send(new Job(2, Express: false));
        });

        Assert.Equal(2, seen.Count);
        Assert.Equal(Lane, Assert.Single(seen, s => s.Number == 1).Queue);
        Assert.True(seen.Single(s => s.Number == 1).Urgent);
        Assert.Equal(AmbulanceHarness.Queue, Assert.Single(seen, s => s.Number == 2).Queue);
        Assert.False(seen.Single(s => s.Number == 2).Urgent);
    }

    [Fact]
    public async Task A_message_marked_urgent_by_the_sender_is_consumed_on_the_lane()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(AmbulanceHarness.Queue));
        await using var _ = provider;

        var seen = await SendAndWait(recorder, harness, 2, async e =>
        {
            await e.Send(new Job(1), ctx => ctx.SetUrgent());
            await e.Send(new Job(2));
        });

        Assert.Equal(2, seen.Count);
        Assert.Equal(Lane, seen.Single(s => s.Number == 1).Queue);
        Assert.Equal(AmbulanceHarness.Queue, seen.Single(s => s.Number == 2).Queue);
    }

    [Fact]
    public async Task A_message_type_with_the_urgent_attribute_is_consumed_on_the_lane()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(AmbulanceHarness.Queue));
        await using var _ = provider;

        var seen = await SendAndWait(recorder, harness, 2, async e =>
        {
            await e.Send(new Alarm(1));
            await e.Send(new Job(2));
        });

        Assert.Equal(2, seen.Count);
        var alarm = Assert.Single(seen, s => s.Kind == nameof(Alarm));
        Assert.Equal(Lane, alarm.Queue);
        Assert.True(alarm.Urgent);
        Assert.Equal(AmbulanceHarness.Queue, Assert.Single(seen, s => s.Kind == nameof(Job)).Queue);
    }

    [Fact]
    public async Task The_sender_can_mark_a_message_not_urgent_against_the_predicate_and_the_attribute()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a =>
        {
            a.Urgent<Job>(j => j.Express);
            a.Endpoint(AmbulanceHarness.Queue);
        });
        await using var _ = provider;

        var seen = await SendAndWait(recorder, harness, 2, async e =>
        {
            await e.Send(new Job(1, Express: true), ctx => ctx.SetUrgent(false));
            await e.Send(new Alarm(2), ctx => ctx.SetUrgent(false));
        });

        Assert.Equal(2, seen.Count);
        Assert.All(seen, s => Assert.Equal(AmbulanceHarness.Queue, s.Queue));
        Assert.All(seen, s => Assert.False(s.Urgent));
    }

    [Fact]
    public async Task Published_urgent_events_are_classified_too()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a =>
        {
            a.Urgent<Job>(j => j.Express);
            a.Endpoint(AmbulanceHarness.Queue);
        });
        await using var _ = provider;

        await harness.Bus.Publish(new Job(1, Express: true));
        await harness.Bus.Publish(new Job(2));
        await harness.Bus.Publish(new Alarm(3));
        await harness.Bus.Publish(new Job(4), ctx => ctx.SetUrgent());
        await Eventually.True(() => recorder.Seen.Count >= 4, TimeSpan.FromSeconds(10), "four published messages consumed");
        await harness.InactivityTask;

        var seen = recorder.Seen;
        Assert.Equal(4, seen.Count);
        Assert.Equal([1, 3, 4], seen.Where(s => s.Queue == Lane).Select(s => s.Number).Order());
        Assert.Equal([2], seen.Where(s => s.Queue == AmbulanceHarness.Queue).Select(s => s.Number));
    }
}
