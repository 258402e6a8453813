using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Tests.QueueDepth;

/// <summary>
/// The monitor (which control flow's flow monitor and the ambulance lanes read) over a probe that
/// hangs and ignores its token: readings go on every poll interval as timeouts, the late answer is
/// never handed to subscribers, and an explicit poll is bounded as well.
/// </summary>
public sealed class QueueDepthMonitorHungProbeTests
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50), ProbeTimeout = TimeSpan.FromMilliseconds(200);
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_hung_probe_yields_a_timeout_reading_per_poll_the_late_answer_is_discarded_and_polling_goes_on()
    {
        var probe = new HungQueueDepthProbe { Ready = 7 };
        using var host = new HostBuilder()
            .ConfigureServices(s => s
                .AddSingleton<IQueueDepthProbe>(probe)
                .AddQueueDepthMonitor(o =>
                {
                    o.PollInterval = Poll;
                    o.ProbeTimeout = ProbeTimeout;
                }))
            .Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var monitor = host.Services.GetRequiredService<IQueueDepthMonitor>();
            var readings = new ConcurrentQueue<QueueDepthReading>();
            using var subscription = monitor.Subscribe("orders", (r, _) =>
            {
                readings.Enqueue(r);
                return Task.CompletedTask;
            });
            await Eventually.True(() => monitor.GetLatest("orders")?.Sample?.Ready == 7, Wait, "first reading");

            probe.Switch.Hang();
            await Eventually.True(() => monitor.GetLatest("orders")?.ConsecutiveFailures >= 5, Wait,
                $"readings go on while the probe hangs (latest: {monitor.GetLatest("orders")})");
            var failed = monitor.GetLatest("orders")!;
            Assert.Null(failed.Sample);
            Assert.Equal(QueueDepthFailure.Timeout, failed.Failure!.Failure);
            Assert.Equal(1, probe.Switch.Hanging);

            // An explicit poll is bounded too.
            var watch = Stopwatch.StartNew();
            var polled = await monitor.PollAsync("orders", TestContext.Current.CancellationToken);
            Assert.False(polled.Succeeded);
            Assert.True(watch.Elapsed < ProbeTimeout + TimeSpan.FromSeconds(1), $"PollAsync took {watch.Elapsed.TotalMilliseconds:0} ms");

            probe.Ready = 3;
            probe.Switch.Release();
            await Eventually.True(() => monitor.GetLatest("orders")?.Sample?.Ready == 3, Wait, "recovers with fresh readings");
            Assert.DoesNotContain(readings, r => r.Sample?.Ready == probe.LateReady);
            Assert.Equal(0, monitor.GetLatest("orders")!.ConsecutiveFailures);
        }
        finally
        {
            probe.Switch.Release();
            await host.StopAsync(CancellationToken.None);
        }
    }
}
