using MassTransit.Patterns.Health;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Watch.Messages;
using MassTransit.Patterns.Watch;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Tests.Health;

public sealed class WatchHealthCheckTests
{
    const string GateQueue = "health-watch-gate";

    /// <summary>Stands between the watchers and the source: open, it forwards each registration to the source (which answers the watcher); closed, it drops it unanswered, as an unreachable source does.</summary>
    public sealed class SourceGate
    {
        public volatile bool Open = true;
        public int Forwarded;
        public int Dropped;
    }

    public sealed class SourceGateConsumer(SourceGate gate) : IConsumer<RegisterWatch<FeatureFlag>>
    {
        public async Task Consume(ConsumeContext<RegisterWatch<FeatureFlag>> context)
        {
            if (!gate.Open)
            {
                Interlocked.Increment(ref gate.Dropped);
                return;
            }
            await context.Forward(new Uri("queue:watch-source-feature-flag"));
            Interlocked.Increment(ref gate.Forwarded);
        }
    }

    [Fact]
    public async Task A_watcher_whose_source_stops_answering_degrades_then_fails_the_check_with_the_reason_and_its_next_renewal_clears_it()
    {
        var services = new ServiceCollection().AddSingleton<SourceGate>();
        services.AddWatcherFactory<FeatureFlag>();
        services.AddMassTransitTestHarness(x =>
        {
            x.AddWatchSource<FeatureFlag>();
            x.AddConsumer<SourceGateConsumer>().Endpoint(e => e.Name = GateQueue);
        });
        services.AddHealthChecks().AddPatternsChecks(o => o.WatchFailuresUnhealthy = 2);
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        // The bus stops before the container is disposed, whatever the test's outcome (its watch observer reads the container as it stops).
        try
        {
            var gate = provider.GetRequiredService<SourceGate>();
            var health = provider.GetRequiredService<HealthCheckService>();
            var ct = TestContext.Current.CancellationToken;
            await provider.GetRequiredService<IWatchSource<FeatureFlag>>().Set("checkout", new FeatureFlag("checkout", true, 1), ct);

            var watcher = await provider.GetRequiredService<IWatcherFactory<FeatureFlag>>().Watch(o =>
            {
                o.Keys.Add("checkout");
                o.SourceAddress = new Uri("queue:" + GateQueue);
                o.RenewInterval = TimeSpan.FromMilliseconds(200);
                o.RegistrationTimeout = TimeSpan.FromMilliseconds(300);
                o.RetryInterval = TimeSpan.FromSeconds(3);   // the check stays Degraded (one failure) for 3 s before the retry fails too
            }, ct);
            Assert.True(watcher.TryGetValue("checkout", out _));
            var name = $"watcher {watcher.WatcherId} (FeatureFlag)";

            async Task<HealthReportEntry> Check() =>
                (await health.CheckHealthAsync(r => r.Name == PatternsHealthCheckNames.Watch, ct)).Entries[PatternsHealthCheckNames.Watch];

            var healthy = await Check();
            Assert.Equal((HealthStatus.Healthy, "1 watcher(s) renewing with their sources."), (healthy.Status, healthy.Description));
            Assert.StartsWith("last renewed at ", (string)healthy.Data[name]);

            gate.Open = false;
            HealthReportEntry entry = default;
            await Eventually.True(async () => (entry = await Check()).Status != HealthStatus.Healthy, TimeSpan.FromSeconds(10), "a renewal fails",
                TimeSpan.FromMilliseconds(20));
            var renewal = watcher.Renewal;
            Assert.Equal(HealthStatus.Degraded, entry.Status);
            Assert.Equal(1, renewal.ConsecutiveFailures);
            Assert.StartsWith("RequestTimeoutException: ", renewal.LastFailure);
            Assert.Equal($"Watcher {watcher.WatcherId} of FeatureFlag: queue:{GateQueue} unreachable, 1 registration(s) or renewal(s) in a row failed (degraded at 1), "
                + $"the last: {renewal.LastFailure}; last renewed at {renewal.LastRenewedAt:O}.", entry.Description);

            await Eventually.True(async () => (entry = await Check()).Status == HealthStatus.Unhealthy, TimeSpan.FromSeconds(10), "a second renewal fails");
            Assert.StartsWith($"Watcher {watcher.WatcherId} of FeatureFlag: queue:{GateQueue} unreachable, 2 registration(s) or renewal(s) in a row failed (unhealthy at 2), ",
                entry.Description);

            gate.Open = true;
            await Eventually.True(async () => (entry = await Check()).Status == HealthStatus.Healthy, TimeSpan.FromSeconds(10), "the next renewal gets through");
            Assert.Equal(0, watcher.Renewal.ConsecutiveFailures);
            Assert.True(watcher.Renewal.LastRenewedAt > renewal.LastRenewedAt);

            // Every registration the watcher sent reached the gate: forwarded (and answered, or the watcher would have failed) or dropped (and failed).
            await watcher.DisposeAsync();
            Assert.True(gate.Dropped >= 2, $"dropped {gate.Dropped}");
            Assert.True(gate.Forwarded >= 2, $"forwarded {gate.Forwarded}");
        }
        finally
        {
            await harness.Stop();
        }
    }
}
