using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Supervisor.Fleet;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>
/// The supervisor saga under the test harness with the in-memory repository: heartbeats of several
/// instances of one queue go in, each instance's share of the fleet's target comes out.
/// </summary>
public sealed class SupervisorSagaTests : IAsyncLifetime
{
    const string Queue = "fleet-work";
    const int Min = 1, Max = 10, PerConsumer = 10;
    static readonly TimeSpan Poll = TimeSpan.FromSeconds(1), Cooldown = TimeSpan.FromSeconds(5), InstanceTimeout = TimeSpan.FromSeconds(3);

    readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    ServiceProvider _provider = null!;
    ITestHarness _harness = null!;

    public async ValueTask InitializeAsync()
    {
        _provider = new ServiceCollection()
            .AddSingleton<TimeProvider>(_time)
            .AddMassTransitTestHarness(x => x.AddConsumerSupervisorSaga().InMemoryRepository())
            .BuildServiceProvider(true);
        _harness = _provider.GetRequiredService<ITestHarness>();
        await _harness.Start();
    }

    public async ValueTask DisposeAsync()
    {
        await _harness.Stop();
        await _provider.DisposeAsync();
    }

    async Task<SupervisorShareAssigned> ReportAsync(string instance, long? ready, int waiting = 0)
    {
        var client = _harness.GetRequestClient<ReportSupervisorInstance>();
        var response = await client.GetResponse<SupervisorShareAssigned>(new ReportSupervisorInstance
        {
            CorrelationId = SupervisorFleet.CorrelationIdOf(Queue),
            Queue = Queue,
            InstanceId = instance,
            Ready = ready,
            ProbeFailure = ready is null ? "broker down" : null,
            Waiting = waiting,
            MinConsumers = Min,
            MaxConsumers = Max,
            MessagesPerConsumer = PerConsumer,
            ScaleDownCooldown = Cooldown,
            ScaleDownHysteresis = 0.2,
            DepthMeasure = DepthMeasure.Ready,
            InstanceTimeout = InstanceTimeout
        });
        return response.Message;
    }

    /// <summary>One heartbeat from each instance, one poll interval apart from the last round.</summary>
    async Task<SupervisorShareAssigned[]> RoundAsync(long? ready, params string[] instances)
    {
        _time.Advance(Poll);
        var shares = new List<SupervisorShareAssigned>();
        foreach (var instance in instances)
            shares.Add(await ReportAsync(instance, ready));
        return shares.ToArray();
    }

    [Fact]
    public async Task Three_instances_share_the_target_instead_of_each_scaling_to_it()
    {
        await RoundAsync(150, "a", "b", "c");
        var shares = await RoundAsync(150, "a", "b", "c");

        // 150 waiting / 10 per consumer = 15 consumers for the fleet, not 15 (clamped to 10) on each of three.
        Assert.All(shares, s => Assert.Equal((15, 3), (s.Target, s.Instances)));
        Assert.Equal(15, shares.Sum(s => s.Share));
        Assert.Equal([5, 5, 5], shares.Select(s => s.Share));

        shares = await RoundAsync(1_000, "a", "b", "c");
        Assert.Equal(30, shares[^1].Target);
        Assert.Equal([10, 10, 10], shares.Select(s => s.Share));

        shares = await RoundAsync(161, "a", "b", "c");
        // Down only after the cool-down: the target holds, the shares still sum to it.
        Assert.All(shares, s => Assert.Equal(30, s.Target));
        for (var i = 0; i < (int)(Cooldown / Poll); i++)
            shares = await RoundAsync(161, "a", "b", "c");
        Assert.Equal(20, shares[^1].Target);
        Assert.Equal([7, 7, 6], shares.Select(s => s.Share));
    }

    [Fact]
    public async Task Messages_held_waiting_by_the_instances_count_as_depth()
    {
        await RoundAsync(0, "a", "b");
        _time.Advance(Poll);
        await ReportAsync("a", 0, waiting: 40);
        var share = await ReportAsync("b", 0, waiting: 30);

        Assert.Equal((70L, 7), (share.Depth!.Value, share.Target));
    }

    [Fact]
    public async Task An_instance_that_stops_heartbeating_drops_out_of_the_share()
    {
        await RoundAsync(1_000, "a", "b", "c");
        var all = await RoundAsync(1_000, "a", "b", "c");
        Assert.Equal(30, all.Sum(s => s.Share));

        // c falls silent; a and b go on reporting. Once c has been silent longer than the timeout it is gone.
        var rounds = (int)(InstanceTimeout / Poll) + 1;
        SupervisorShareAssigned[] remaining = [];
        for (var i = 0; i < rounds; i++)
            remaining = await RoundAsync(1_000, "a", "b");

        Assert.All(remaining, s => Assert.Equal(2, s.Instances));
        Assert.Equal(20, remaining[^1].Target);
        Assert.Equal([10, 10], remaining.Select(s => s.Share));
    }

    [Fact]
    public async Task A_heartbeat_without_a_depth_holds_the_fleet_target()
    {
        await RoundAsync(1_000, "a", "b");
        await RoundAsync(1_000, "a", "b");

        for (var i = 0; i < (int)(Cooldown / Poll) * 2; i++)
        {
            var shares = await RoundAsync(null, "a", "b");
            Assert.All(shares, s => Assert.Equal((20, (long?)null), (s.Target, s.Depth)));
        }

        var recovered = await RoundAsync(0, "a", "b");
        Assert.All(recovered, s => Assert.Equal(20, s.Target));
    }
}
