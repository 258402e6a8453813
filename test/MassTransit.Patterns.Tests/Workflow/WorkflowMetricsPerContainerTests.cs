using System.Diagnostics.Metrics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// The workflow and event forwarding instruments belong to their container: each records on the meter its own
/// <see cref="IMeterFactory"/> created, so two hosts in one process are told apart by <see cref="Meter.Scope"/>.
/// </summary>
public sealed class WorkflowMetricsPerContainerTests
{
    static ServiceProvider Build()
    {
        var services = new ServiceCollection();
        services.AddMassTransit(x =>
        {
            x.AddWorkflowEventProcessor();
            x.AddEventForwarding();
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        return services.BuildServiceProvider(true);
    }

    [Fact]
    public async Task Each_container_records_on_its_own_meter_and_the_processor_records_on_it()
    {
        await using var first = Build();
        await using var second = Build();
        var firstFactory = first.GetRequiredService<IMeterFactory>();
        var secondFactory = second.GetRequiredService<IMeterFactory>();
        Assert.NotSame(firstFactory, secondFactory);

        var seen = new List<(string Name, object? Scope, long Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name is WorkflowMetrics.Prefix + "delegated" or EventForwardingMetrics.Prefix + "violations")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (seen)
                seen.Add((instrument.Name, instrument.Meter.Scope, value));
        });
        listener.Start();

        first.GetRequiredService<WorkflowMetrics>().Delegated("orders");
        second.GetRequiredService<EventForwardingMetrics>().Violations.Add(2);

        Assert.Same(first.GetRequiredService<WorkflowMetrics>(), first.GetRequiredService<WorkflowMetrics>());
        Assert.NotSame(first.GetRequiredService<WorkflowMetrics>(), second.GetRequiredService<WorkflowMetrics>());
        // The processor's state machine, created by the container, records on the same instance.
        Assert.Same(first.GetRequiredService<WorkflowMetrics>(), first.GetRequiredService<WorkflowEventStateMachine>().Metrics);
        lock (seen)
        {
            Assert.Equal([(WorkflowMetrics.Prefix + "delegated", (object?)firstFactory, 1L)],
                seen.Where(s => s.Name == WorkflowMetrics.Prefix + "delegated").ToList());
            Assert.Equal([(EventForwardingMetrics.Prefix + "violations", (object?)secondFactory, 2L)],
                seen.Where(s => s.Name == EventForwardingMetrics.Prefix + "violations").ToList());
        }
    }
}
