using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Ambulance.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>The ways to name the queue that gets a lane: by endpoint name, by consumer type, or by declaring both endpoints.</summary>
public sealed class AmbulanceEndpointTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_lane_named_by_consumer_type_stands_beside_the_endpoint_ConfigureEndpoints_gives_that_consumer()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a => a.Endpoint<JobConsumer>(lane => lane.Suffix = "-express"));
        await using var _ = provider;

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{AmbulanceHarness.Queue}"));
        await endpoint.Send(new Job(1), ctx => ctx.SetUrgent());
        await endpoint.Send(new Job(2));
        await Eventually.True(() => recorder.Seen.Count == 2, Timeout, "both jobs consumed");
        await harness.InactivityTask;

        Assert.Equal(2, recorder.Seen.Count);
        Assert.Equal(AmbulanceHarness.Queue + "-express", recorder.Seen.Single(s => s.Number == 1).Queue);
        Assert.Equal(AmbulanceHarness.Queue, recorder.Seen.Single(s => s.Number == 2).Queue);
    }

    public sealed class IncidentLaneDefinition : ConsumerDefinition<IncidentConsumer>, IAmbulanceLaneDefinition
    {
        public IncidentLaneDefinition() => EndpointName = "incidents-by-definition";

        public void ConfigureLane(AmbulanceLaneOptions lane)
        {
            lane.Suffix = "-urgent";
            lane.Mode = AmbulanceMode.Carpool;
        }
    }

    [Fact]
    public async Task A_consumer_definition_can_ask_for_a_lane_beside_its_endpoint()
    {
        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(_ => { },
            register: x => x.AddConsumer<IncidentConsumer, IncidentLaneDefinition>());
        await using var _ = provider;

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri("queue:incidents-by-definition"));
        await endpoint.Send(new Incident(1), ctx => ctx.SetUrgent());
        await endpoint.Send(new Incident(2));
        await Eventually.True(() => recorder.Seen.Count == 2, Timeout, "both incidents consumed");
        await harness.InactivityTask;

        Assert.Equal(2, recorder.Seen.Count);
        Assert.Equal("incidents-by-definition-urgent", recorder.Seen.Single(s => s.Number == 1).Queue);
        Assert.Equal("incidents-by-definition", recorder.Seen.Single(s => s.Number == 2).Queue);
    }

    [Fact]
    public async Task ReceiveEndpoint_declares_the_queue_and_its_lane_with_the_same_consumers()
    {
        var recorder = new Recorder();
        await using var provider = new ServiceCollection()
            .AddMetrics()
            .AddMassTransitTestHarness(x => x.UsingInMemory((context, cfg) =>
            {
                cfg.UseAmbulanceLane(context, a => a.ReceiveEndpoint("manual-jobs", e => e.Consumer(() => new JobConsumer(recorder)),
                    lane => lane.ConcurrentMessageLimit = 1));
                cfg.ConfigureEndpoints(context);
            }))
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri("queue:manual-jobs"));
        await endpoint.Send(new Job(1), ctx => ctx.SetUrgent());
        await endpoint.Send(new Job(2));
        await harness.Bus.Publish(new Alarm(3));
        await Eventually.True(() => recorder.Seen.Count == 3, Timeout, "three messages consumed");
        await harness.InactivityTask;

        Assert.Equal(3, recorder.Seen.Count);
        Assert.Equal(["manual-jobs_lane", "manual-jobs", "manual-jobs_lane"], recorder.Seen.OrderBy(s => s.Number).Select(s => s.Queue));
    }

    [Fact]
    public async Task With_a_queue_depth_monitor_registered_the_lane_queue_is_watched_while_the_bus_runs()
    {
        var (provider, _, _) = await AmbulanceHarness.StartAsync(a => a.Endpoint(AmbulanceHarness.Queue),
            services: s => s.AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(50)));
        await using var _ = provider;
        var monitor = provider.GetRequiredService<QueueDepthMonitor>();
        await monitor.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.True(() => monitor.GetLatest(AmbulanceHarness.Queue + AmbulanceLaneOptions.DefaultSuffix) is { Succeeded: true }, Timeout,
                "the lane queue's depth is read");
        }
        finally
        {
            await monitor.StopAsync(CancellationToken.None);
        }
    }
}

