using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Watch;

/// <summary>The watchers gauge of one container reads that container's sources: two hosts in one process do not mix.</summary>
[Collection("watch")]
public sealed class WatchMetricsPerContainerTests
{
    [Fact]
    public async Task Each_containers_watchers_gauge_reports_its_own_source_only_even_with_the_same_source_name()
    {
        // The same source name in both containers: only the meter's scope (the container's IMeterFactory) tells them apart.
        var name = "scope-" + Guid.NewGuid().ToString("N")[..8];
        await using var two = await WatchRig.StartAsync(o => o.Name = name);
        await using var one = await WatchRig.StartAsync(o => o.Name = name);
        var twoFactory = two.Services.GetRequiredService<IMeterFactory>();
        var oneFactory = one.Services.GetRequiredService<IMeterFactory>();
        Assert.NotSame(twoFactory, oneFactory);

        await using var a = await two.WatchAsync(o => o.Keys.Add("k"));
        await using var b = await two.WatchAsync(o => o.Keys.Add("k"));
        await using var c = await one.WatchAsync(o => o.Keys.Add("k"));
        await two.Source.PruneExpired();    // the sweep sets the counts the gauge reads
        await one.Source.PruneExpired();

        var measurements = new ConcurrentQueue<(object? Scope, int Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.watch.watchers")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "masstransit.patterns.watch.source" && Equals(tag.Value, name))
                    measurements.Enqueue((instrument.Meter.Scope, value));
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal([2], measurements.Where(m => ReferenceEquals(m.Scope, twoFactory)).Select(m => m.Value));
        Assert.Equal([1], measurements.Where(m => ReferenceEquals(m.Scope, oneFactory)).Select(m => m.Value));
        Assert.Equal(2, measurements.Count);
    }
}
