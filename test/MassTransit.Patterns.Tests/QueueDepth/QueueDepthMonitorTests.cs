using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.Tests.QueueDepth;

public sealed class QueueDepthMonitorTests
{
    /// <summary>A probe whose answers the test scripts: a depth, or a failure.</summary>
    sealed class ScriptedProbe : IQueueDepthProbe
    {
        public volatile bool Fail;
        public long Ready = 7;

        public string Name => "scripted";

        public bool KnowsUnacknowledged => false;

        public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) =>
            Fail
                ? throw new InvalidOperationException("broker down")
                : Task.FromResult(new QueueDepthSample(queue, Interlocked.Read(ref Ready), null, null, DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task A_negative_poll_interval_fails_start_up_naming_the_option()
    {
        using var host = Host.CreateDefaultBuilder()
            .ConfigureServices(s => s
                .AddSingleton<IQueueDepthProbe>(new ScriptedProbe())
                .AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromSeconds(-1)))
            .Build();

        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("QueueDepthMonitorOptions.PollInterval", failure.Message);
        Assert.Contains("-00:00:01", failure.Message);
    }

    [Fact]
    public async Task A_failing_probe_is_reported_as_a_failed_reading_and_counted_never_as_depth_zero()
    {
        var probe = new ScriptedProbe();
        long failuresCounted = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.queue.depth.probe.failures")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag is { Key: PatternsTags.Queue, Value: "orders" })
                    Interlocked.Add(ref failuresCounted, value);
        });
        listener.Start();

        using var host = Host.CreateDefaultBuilder()
            .ConfigureServices(s => s
                .AddSingleton<IQueueDepthProbe>(probe)
                .AddQueueDepthMonitor(o =>
                {
                    o.Queues.Add("orders");
                    o.PollInterval = TimeSpan.FromMilliseconds(50);
                }))
            .Build();
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<IQueueDepthMonitor>();

        await Eventually.True(() => monitor.GetLatest("orders")?.Sample?.Ready == 7, TimeSpan.FromSeconds(5), "first reading");

        probe.Fail = true;
        await Eventually.True(() => monitor.GetLatest("orders")?.ConsecutiveFailures >= 2, TimeSpan.FromSeconds(5), "failures accumulate");
        var failed = monitor.GetLatest("orders")!;
        Assert.False(failed.Succeeded);
        Assert.Null(failed.Sample);
        Assert.Equal(QueueDepthFailure.Unreachable, failed.Failure!.Failure);
        Assert.Contains("broker down", failed.Failure.Message);
        Assert.True(Interlocked.Read(ref failuresCounted) >= 2);

        probe.Fail = false;
        Interlocked.Exchange(ref probe.Ready, 3);
        await Eventually.True(() => monitor.GetLatest("orders")?.Sample?.Ready == 3, TimeSpan.FromSeconds(5), "recovers");
        Assert.Equal(0, monitor.GetLatest("orders")!.ConsecutiveFailures);

        await host.StopAsync();
    }

    [Fact]
    public async Task Subscribers_receive_each_reading_of_their_queue()
    {
        var probe = new ScriptedProbe();
        using var host = Host.CreateDefaultBuilder()
            .ConfigureServices(s => s
                .AddSingleton<IQueueDepthProbe>(probe)
                .AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(20)))
            .Build();
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<IQueueDepthMonitor>();
        var readings = new List<QueueDepthReading>();
        using (monitor.Subscribe("payments", (r, _) =>
               {
                   lock (readings)
                       readings.Add(r);
                   return Task.CompletedTask;
               }))
        {
            await Eventually.True(() =>
            {
                lock (readings)
                    return readings.Count >= 3;
            }, TimeSpan.FromSeconds(5), "three readings delivered");
        }

        lock (readings)
            Assert.All(readings, r => Assert.Equal("payments", r.Queue));
        await host.StopAsync();
    }
}
