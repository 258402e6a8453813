using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Watch.Messages;
using MassTransit.Patterns.Watch;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Watch;

/// <summary>
/// A watcher renews its registration with a request. MassTransit starts a request's timeout only once its send reaches
/// the transport, so a renewal whose send waits before it (for a channel after a broker node's loss) must not stop the
/// renewals: each one fails within the registration timeout and its bound, is recorded, and the next is tried. Here the
/// bus's send pipe hangs the registrations, ignoring cancellation; real time, short intervals.
/// </summary>
public sealed class WatchHungRegistrationTests
{
    static readonly TimeSpan RegistrationTimeout = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Renewals_whose_send_hangs_before_the_transport_fail_one_by_one_and_the_watcher_renews_and_hears_changes_once_they_pass()
    {
        var sends = new HangSwitch();
        var services = new ServiceCollection();
        services.AddWatcherFactory<FeatureFlag>();
        services.AddMassTransitTestHarness(x =>
        {
            x.AddWatchSource<FeatureFlag>();
            x.UsingInMemory((context, cfg) =>
            {
                sends.HangSendsOf<RegisterWatch<FeatureFlag>>(cfg);
                cfg.ConfigureEndpoints(context);
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var ct = TestContext.Current.CancellationToken;
            var source = provider.GetRequiredService<IWatchSource<FeatureFlag>>();
            await source.Set("checkout", new FeatureFlag("checkout", true, 1), ct);
            var watcher = await provider.GetRequiredService<IWatcherFactory<FeatureFlag>>().Watch(o =>
            {
                o.Keys.Add("checkout");
                o.SourceAddress = new Uri("queue:watch-source-feature-flag");
                o.RenewInterval = TimeSpan.FromMilliseconds(200);
                o.RegistrationTimeout = RegistrationTimeout;
                o.RetryInterval = TimeSpan.FromMilliseconds(200);
            }, ct);
            var renewedBefore = watcher.Renewal.LastRenewedAt;
            Assert.NotNull(renewedBefore);

            sends.Hang();
            await Eventually.True(() => watcher.Renewal.ConsecutiveFailures >= 3, TimeSpan.FromSeconds(30), "the renewals go on failing while their sends hang");
            var failing = watcher.Renewal;
            Assert.True(sends.Calls >= 3, $"the renewals really hung ({sends.Calls} hung sends)");
            Assert.StartsWith("TimeoutException: No answer within the request timeout", failing.LastFailure);

            sends.Release();
            await Eventually.True(() => watcher.Renewal.ConsecutiveFailures == 0, TimeSpan.FromSeconds(10), "the next renewal gets through");
            Assert.True(watcher.Renewal.LastRenewedAt > failing.LastRenewedAt);
            await source.Set("checkout", new FeatureFlag("checkout", false, 2), ct);
            await Eventually.True(() => watcher.TryGetValue("checkout", out var flag) && flag.Value.Revision == 2, TimeSpan.FromSeconds(10),
                "a change made after the renewals pass again reaches the watcher");
            await watcher.DisposeAsync();
        }
        finally
        {
            sends.Release();
            await harness.Stop();
        }
    }
}
