using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Multibroker;

/// <summary>The gauges of one container read that container's multibroker: two hosts in one process do not mix.</summary>
public sealed class MultibrokerMetricsPerContainerTests
{
    [Fact]
    public async Task Each_containers_health_gauges_report_its_own_brokers_only_even_with_the_same_broker_names()
    {
        // The same broker names in both hosts: only the meter's scope (the host's IMeterFactory) tells them apart.
        await using var two = await MultibrokerKit.StartAsync(2, prefix: "scope");
        await using var three = await MultibrokerKit.StartAsync(3, prefix: "scope");
        var twoFactory = two.Services.GetRequiredService<IMeterFactory>();
        var threeFactory = three.Services.GetRequiredService<IMeterFactory>();
        Assert.NotSame(twoFactory, threeFactory);
        // The third broker of the second host is taken out: only that host's gauge may show it.
        three.Transports[2].Outage.Down();
        three.CheckHealth();
        await Eventually.True(() => three.Broker(2).State != Patterns.Multibroker.BrokerState.Healthy, MultibrokerKit.Timeout, "scope2 of the second host out");

        var measurements = new ConcurrentQueue<(object? Scope, string Instrument, int Value, string Broker)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name.Contains(".multibroker.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            var broker = "";
            foreach (var tag in tags)
                if (tag.Key == "masstransit.patterns.multibroker.broker")
                    broker = tag.Value as string ?? "";
            measurements.Enqueue((instrument.Meter.Scope, instrument.Name, value, broker));
        });
        listener.Start();
        listener.RecordObservableInstruments();

        (string Broker, int Value)[] Healthy(IMeterFactory scope) => measurements
            .Where(m => ReferenceEquals(m.Scope, scope) && m.Instrument == "masstransit.patterns.multibroker.broker.healthy")
            .Select(m => (m.Broker, m.Value)).OrderBy(m => m.Broker).ToArray();
        int[] InRotation(IMeterFactory scope) => measurements
            .Where(m => ReferenceEquals(m.Scope, scope) && m.Instrument == "masstransit.patterns.multibroker.brokers.in_rotation")
            .Select(m => m.Value).ToArray();

        Assert.Equal([("scope0", 1), ("scope1", 1)], Healthy(twoFactory));
        Assert.Equal([("scope0", 1), ("scope1", 1), ("scope2", 0)], Healthy(threeFactory));
        Assert.Equal([2], InRotation(twoFactory));
        Assert.Equal([2], InRotation(threeFactory));
    }
}
