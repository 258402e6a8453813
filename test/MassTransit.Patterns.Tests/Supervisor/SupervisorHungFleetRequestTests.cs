using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Supervisor.Fleet;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>
/// In fleet mode each look sends the supervisor saga a heartbeat request. MassTransit starts a request's timeout only
/// once its send reaches the transport, so a send that waits before it (for a channel after a broker node's loss: an app
/// on a RabbitMQ cluster looked no more for minutes after its node died) must not hold the look. Here the bus's send
/// pipe hangs the heartbeats, ignoring cancellation; real time, short intervals.
/// </summary>
public sealed class SupervisorHungFleetRequestTests
{
    const string Queue = "hung-fleet-request-work";
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100), RequestTimeout = TimeSpan.FromMilliseconds(500);
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_heartbeat_send_that_hangs_before_the_transport_costs_one_request_timeout_per_look_and_the_looks_go_on()
    {
        var sends = new HangSwitch();
        var probe = new HungQueueDepthProbe { Ready = 30 };
        await using var provider = SupervisorFleetHarness.Build(Queue, probe, o =>
        {
            o.MinConsumers = 1;
            o.MaxConsumers = 8;
            o.MessagesPerConsumer = 10;
            o.PollInterval = Poll;
            o.UseFleet(f =>
            {
                f.RequestTimeout = RequestTimeout;
                f.FallbackAfterFailures = 3;
            });
        }, sends.HangPublishesOf<ReportSupervisorInstance>); // the heartbeats are published
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var supervisor = provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(Queue);
            var ticks = new ConcurrentQueue<(SupervisorTick Tick, TimeSpan Took)>();
            var sinceLast = Stopwatch.StartNew();
            supervisor.Ticked += t =>
            {
                ticks.Enqueue((t, sinceLast.Elapsed));
                sinceLast.Restart();
            };
            await Eventually.True(() => supervisor.LastTick is { FleetInstances: 1, Limit: 3 }, Wait, "the saga answers and shares ceil(30 / 10) = 3");

            sends.Hang();
            var hungFrom = ticks.Count;
            var failuresBefore = supervisor.FleetFailures;
            probe.Ready = 60;
            await Eventually.True(() => ticks.Skip(hungFrom).Count(t => t.Tick.Failure is not null) >= 5, Wait,
                "the looks go on while every heartbeat send hangs");
            var hung = ticks.Skip(hungFrom).Where(t => t.Tick.Failure is not null).ToList();
            Assert.True(sends.Calls >= 5, $"the heartbeats really hung ({sends.Calls} hung sends)");
            Assert.True(supervisor.FleetFailures - failuresBefore >= 5, $"each look counted a fleet failure ({supervisor.FleetFailures - failuresBefore})");
            Assert.All(hung, t => Assert.Contains("did not answer", t.Tick.Failure, StringComparison.Ordinal));
            // Each look cost the request timeout and the bound's grace (1 s + 1 s), never more: the hang does not accumulate.
            Assert.All(hung.Skip(1), t => Assert.True(t.Took < RequestTimeout + TimeSpan.FromSeconds(3), $"a look took {t.Took}"));
            // The first silences hold the share; after FallbackAfterFailures (3) it decides alone on its own reading (60 / 10).
            Assert.All(hung.Take(2), t => Assert.Equal(3, t.Tick.Limit));
            await Eventually.True(() => supervisor.LastTick is { Limit: 6 }, Wait, "alone after 3 silences, it scales to its own reading");

            sends.Release();
            await Eventually.True(() => supervisor.LastTick is { FleetInstances: 1, Failure: null }, Wait, "the saga answers again once sends pass");
        }
        finally
        {
            sends.Release();
            await harness.Stop();
        }
    }
}
