using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>The instruments: contexts active, context queues, messages per queue; and per-context concurrency.</summary>
public sealed class ContextualMetricsTests
{
    [Fact]
    public async Task Contexts_active_queue_count_and_messages_per_context_are_recorded()
    {
        var queue = $"ctx-metrics-{Guid.NewGuid():N}"[..20];
        var measurements = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name.Contains(".contextual.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var dictionary = new Dictionary<string, object?>();
            foreach (var tag in tags)
                dictionary[tag.Key] = tag.Value;
            if (Equals(dictionary.GetValueOrDefault(ContextualMetrics.DefaultQueueTag), queue))
                measurements.Enqueue((instrument.Name, value, dictionary));
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        await using var h = await ContextualHarness.StartAsync(queue, _ => { });
        await h.Send("a", 1);
        await h.Send("b", 2);
        Assert.True(await h.Routing.WaitForQueueAsync("a", ContextualHarness.Timeout));
        Assert.True(await h.Routing.WaitForQueueAsync("b", ContextualHarness.Timeout));
        for (var i = 3; i <= 5; i++)
            await h.Send("a", i);
        await h.ConsumedAll(5);
        listener.RecordObservableInstruments();

        double Sum(string name, string? onQueue = null) => measurements
            .Where(m => m.Instrument == PatternsDiagnostics.InstrumentPrefix + name && (onQueue is null || Equals(m.Tags.GetValueOrDefault(PatternsTags.Queue), onQueue)))
            .Sum(m => m.Value);
        double Last(string name) => measurements.Last(m => m.Instrument == PatternsDiagnostics.InstrumentPrefix + name).Value;

        Assert.Equal(2, Sum("contextual.messages", queue));
        Assert.Equal(3, Sum("contextual.messages", $"{queue}.ctx.a"));
        Assert.Equal(2, Last("contextual.contexts_active"));
        Assert.Equal(2, Last("contextual.queues"));
    }

    [Fact]
    public async Task Each_context_queue_runs_with_its_configured_concurrency()
    {
        var queue = $"ctx-conc-{Guid.NewGuid():N}"[..18];
        await using var h = await ContextualHarness.StartAsync(queue, q => q.Options.ConcurrentMessageLimit = 3);
        await h.Send("a", 1);
        Assert.True(await h.Routing.WaitForQueueAsync("a", ContextualHarness.Timeout));
        await h.ConsumedAll(1);

        h.Recorder.Hold();
        for (var i = 2; i <= 11; i++)
            await h.Send("a", i);
        // Held consumers: the configured three run at once, the rest wait in the queue.
        await Eventually.True(() => h.Recorder.Waiting == 3, ContextualHarness.Timeout, "three held at once");
        h.Recorder.Release();
        await h.ConsumedAll(11);
        Assert.Equal(3, h.Recorder.PeakWaiting);
    }
}
