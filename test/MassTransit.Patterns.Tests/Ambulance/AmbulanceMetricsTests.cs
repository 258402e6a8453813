using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Ambulance.Messages;

namespace MassTransit.Patterns.Tests.Ambulance;

/// <summary>The lane's instruments: messages per lane, urgent wait, lane copies dropped, classification, lane depth.</summary>
public sealed class AmbulanceMetricsTests
{
    const string Queue = "ambulance-metrics";

    [Fact]
    public async Task Messages_per_lane_urgent_wait_and_dropped_lane_copies_are_recorded_for_the_queue()
    {
        var measurements = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name.Contains(".ambulance.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var dictionary = new Dictionary<string, object?>();
            foreach (var tag in tags)
                dictionary[tag.Key] = tag.Value;
            measurements.Enqueue((instrument.Name, value, dictionary));
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        var (provider, harness, recorder) = await AmbulanceHarness.StartAsync(a =>
        {
            a.Urgent<Incident>(i => i.Number < 0);
            a.Endpoint(Queue);
        }, register: x => x.AddConsumer<IncidentConsumer>().Endpoint(e => e.Name = Queue));
        await using var _ = provider;

        var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{Queue}"));
        await endpoint.Send(new Incident(-1));
        await endpoint.Send(new Incident(2), ctx => ctx.SetUrgent());
        await endpoint.Send(new Incident(3));
        await Eventually.True(() => recorder.Seen.Count == 3, TimeSpan.FromSeconds(10), "three incidents consumed");
        await harness.InactivityTask;
        listener.RecordObservableInstruments();

        (string Instrument, double Value, Dictionary<string, object?> Tags)[] For(string name) =>
            measurements.Where(m => m.Instrument == name && Equals(m.Tags.GetValueOrDefault(PatternsTags.Queue), Queue)).ToArray();

        var messages = For(AmbulanceMetrics.MessagesName);
        Assert.Equal(2, messages.Where(m => Equals(m.Tags[AmbulanceMetrics.LaneTag], "urgent")).Sum(m => m.Value));
        Assert.Equal(1, messages.Where(m => Equals(m.Tags[AmbulanceMetrics.LaneTag], "normal")).Sum(m => m.Value));
        var waits = For(AmbulanceMetrics.UrgentWaitName);
        Assert.Equal(2, waits.Length);
        Assert.All(waits, w => Assert.InRange(w.Value, 0, 10_000));
        Assert.Equal(2, For(AmbulanceMetrics.LaneCopiesName).Sum(m => m.Value));
        Assert.Contains(measurements, m => m.Instrument == AmbulanceMetrics.ClassifiedName && Equals(m.Tags[AmbulanceMetrics.RuleTag], "predicate"));
        Assert.Contains(For(AmbulanceMetrics.LaneDepthName), m => m.Value == 0);
    }
}
