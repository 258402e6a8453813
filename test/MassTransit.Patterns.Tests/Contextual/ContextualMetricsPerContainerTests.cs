using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>The gauges of one container read that container's routings: two hosts in one process do not mix.</summary>
public sealed class ContextualMetricsPerContainerTests
{
    [Fact]
    public async Task Each_containers_gauges_report_its_own_routing_only_even_with_the_same_default_queue()
    {
        // The same default queue name in both containers: only the meter's scope (the container's IMeterFactory) tells them apart.
        var queue = $"ctx-scope-{Guid.NewGuid():N}"[..20];
        await using var first = await ContextualHarness.StartAsync(queue, _ => { });
        await using var second = await ContextualHarness.StartAsync(queue, _ => { });
        var firstFactory = first.Provider.GetRequiredService<IMeterFactory>();
        var secondFactory = second.Provider.GetRequiredService<IMeterFactory>();
        Assert.NotSame(firstFactory, secondFactory);

        await first.Send("a", 1);
        await first.Send("b", 2);
        await second.Send("c", 3);
        Assert.True(await first.Routing.WaitForQueueAsync("a", ContextualHarness.Timeout));
        Assert.True(await first.Routing.WaitForQueueAsync("b", ContextualHarness.Timeout));
        Assert.True(await second.Routing.WaitForQueueAsync("c", ContextualHarness.Timeout));
        await first.ConsumedAll(2);
        await second.ConsumedAll(1);

        var measurements = new ConcurrentQueue<(object? Scope, string Instrument, int Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name.Contains(".contextual.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == ContextualMetrics.DefaultQueueTag && Equals(tag.Value, queue))
                    measurements.Enqueue((instrument.Meter.Scope, instrument.Name, value));
        });
        listener.Start();
        listener.RecordObservableInstruments();

        int[] Of(IMeterFactory scope, string name) => measurements
            .Where(m => ReferenceEquals(m.Scope, scope) && m.Instrument == PatternsDiagnostics.InstrumentPrefix + name).Select(m => m.Value).ToArray();

        // One measurement per container and gauge, each with its own routing's counts; nothing on any other meter.
        Assert.Equal([2], Of(firstFactory, "contextual.contexts_active"));
        Assert.Equal([2], Of(firstFactory, "contextual.queues"));
        Assert.Equal([1], Of(secondFactory, "contextual.contexts_active"));
        Assert.Equal([1], Of(secondFactory, "contextual.queues"));
        Assert.Equal(4, measurements.Count);
    }
}
