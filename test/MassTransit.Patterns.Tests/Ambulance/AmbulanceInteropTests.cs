using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Ambulance.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>MassTransit's own features through a lane: request/response, faults, publish to several subscribers, redelivery, scheduling.</summary>
public sealed class AmbulanceInteropTests
{
    const string Questions = "ambulance-questions";
    const string Incidents = "ambulance-incidents";
    const string Audit = "ambulance-audit";
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task An_urgent_request_is_answered_from_the_lane_and_its_fault_reaches_the_requester()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(Questions), register: x =>
        {
            x.AddConsumer<QuestionConsumer>().Endpoint(e => e.Name = Questions);
            x.AddRequestClient<Question>(new Uri($"queue:{Questions}"));
        });
        await using var _ = provider;
        using var scope = provider.CreateScope();
        var client = scope.ServiceProvider.GetRequiredService<IRequestClient<Question>>();

        var answer = await client.GetResponse<Answer>(new Question(1), x => x.UseExecute(ctx => ctx.SetUrgent()));
        var fault = await Assert.ThrowsAsync<RequestFaultException>(() =>
            client.GetResponse<Answer>(new Question(2, Fail: true), x => x.UseExecute(ctx => ctx.SetUrgent())));

        Assert.Equal(1, answer.Message.Number);
        Assert.True(answer.Message.Urgent);
        Assert.Contains("question 2 fails", fault.Fault!.Exceptions[0].Message);
        var seen = recorder.Seen.Where(s => s.Kind == nameof(Question)).ToList();
        Assert.All(seen, s => Assert.Equal(Questions + AmbulanceLaneOptions.DefaultSuffix, s.Queue));
        Assert.Equal([1, 2], seen.Select(s => s.Number).Order());
    }

    [Fact]
    public async Task An_urgent_publish_reaches_the_lane_of_a_subscriber_with_a_lane_and_the_queue_of_one_without()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(Incidents), register: x =>
        {
            x.AddConsumer<IncidentConsumer>().Endpoint(e => e.Name = Incidents);
            x.AddConsumer<IncidentAuditConsumer>().Endpoint(e => e.Name = Audit);
        });
        await using var _ = provider;

        await harness.Bus.Publish(new Incident(1), ctx => ctx.SetUrgent());
        await harness.Bus.Publish(new Incident(2));
        await Eventually.True(() => recorder.Seen.Count >= 4, Timeout, "each subscriber consumed both incidents");
        await harness.InactivityTask;

        var seen = recorder.Seen;
        Assert.Equal(4, seen.Count);
        Assert.Equal(Incidents + AmbulanceLaneOptions.DefaultSuffix, seen.Single(s => s is { Kind: nameof(Incident), Number: 1 }).Queue);
        Assert.Equal(Incidents, seen.Single(s => s is { Kind: nameof(Incident), Number: 2 }).Queue);
        Assert.Equal(Audit, seen.Single(s => s is { Kind: "IncidentAudit", Number: 1 }).Queue);
        Assert.True(seen.Single(s => s is { Kind: "IncidentAudit", Number: 1 }).Urgent);
        Assert.Equal(Audit, seen.Single(s => s is { Kind: "IncidentAudit", Number: 2 }).Queue);
    }

    [Fact]
    public async Task A_message_redelivered_from_the_lane_stays_urgent_and_comes_back_to_the_lane()
    {
        // The redelivery policy comes from a ConfigureEndpoints callback, which the lane endpoint gets too.
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(AmbulanceHarness.Queue),
            register: x => x.AddConfigureEndpointsCallback((_, _, e) => e.UseDelayedRedelivery(r => r.Intervals(TimeSpan.FromMilliseconds(50)))),
            bus: cfg => cfg.UseDelayedMessageScheduler());
        await using var _ = provider;

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{AmbulanceHarness.Queue}"));
        await endpoint.Send(new Job(7, FailFirst: true), ctx => ctx.SetUrgent());
        await Eventually.True(() => recorder.Seen.Count(s => s.Number == 7) == 2, Timeout, "the failed attempt and the redelivery");
        await harness.InactivityTask;

        var attempts = recorder.Seen.Where(s => s.Number == 7).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.All(attempts, s => Assert.Equal(AmbulanceHarness.Queue + AmbulanceLaneOptions.DefaultSuffix, s.Queue));
        Assert.All(attempts, s => Assert.True(s.Urgent));
        Assert.Equal([0, 1], attempts.Select(s => s.Attempt));
    }

    [Fact]
    public async Task A_scheduled_urgent_message_is_delivered_to_the_lane()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint(AmbulanceHarness.Queue),
            bus: cfg => cfg.UseDelayedMessageScheduler());
        await using var _ = provider;
        var scheduler = harness.Bus.CreateDelayedMessageScheduler();
        var destination = new Uri($"queue:{AmbulanceHarness.Queue}");

        await scheduler.ScheduleSend(destination, DateTime.UtcNow.AddMilliseconds(100), new Alarm(1));
        await scheduler.ScheduleSend(destination, DateTime.UtcNow.AddMilliseconds(100), new Job(2),
            Pipe.Execute<SendContext<Job>>(ctx => ctx.SetUrgent()));
        await scheduler.ScheduleSend(destination, DateTime.UtcNow.AddMilliseconds(100), new Job(3));
        await Eventually.True(() => recorder.Seen.Count >= 3, Timeout, "three scheduled messages consumed");
        await harness.InactivityTask;

        var seen = recorder.Seen;
        Assert.Equal(3, seen.Count);
        Assert.Equal([1, 2], seen.Where(s => s.Queue == AmbulanceHarness.Queue + AmbulanceLaneOptions.DefaultSuffix).Select(s => s.Number).Order());
        Assert.Equal([3], seen.Where(s => s.Queue == AmbulanceHarness.Queue).Select(s => s.Number));
    }
}

