using BenchmarkDotNet.Attributes;
using MassTransit.Context;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Benchmarks.Messages;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Supervisor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Benchmarks.Micro;

/// <summary>
/// The per-message cost of the filters that sit on every send or receive once a pattern is
/// configured, in the state they spend nearly all their time in (queue normal, message not urgent,
/// a free concurrency slot). Each runs in a one-filter pipe against the empty pipe as baseline.
/// </summary>
[MemoryDiagnoser]
public class SendFilterBenchmarks
{
    const string Queue = "orders";

    MessageSendContext<BenchMessage> _context = null!;
    IPipe<SendContext<BenchMessage>> _bare = null!;
    IPipe<SendContext<BenchMessage>> _controlFlowUnwatched = null!;
    IPipe<SendContext<BenchMessage>> _controlFlowNormal = null!;
    IPipe<SendContext<BenchMessage>> _ambulanceNotUrgent = null!;
    ElasticConcurrencyLimit _supervisorGate = null!;
    ServiceProvider _services = null!;

    [GlobalSetup]
    public void Setup()
    {
        _context = new MessageSendContext<BenchMessage>(new BenchMessage(1)) { DestinationAddress = new Uri($"exchange:{Queue}") };
        _bare = Pipe.New<SendContext<BenchMessage>>(_ => { });

        // The filters record on the patterns' meter of a container, as in an application.
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meter = PatternsMeter.From(_services);
        var controlFlowMetrics = new ControlFlowMetrics(meter);
        var options = new ProducerControlFlowOptions();
        var unwatched = new ProducerControlFlowGate(new FlowControlStateStore(), options, NullLogger.Instance, controlFlowMetrics);
        _controlFlowUnwatched = Pipe.New<SendContext<BenchMessage>>(p => p.UseFilter(new ProducerControlFlowSendFilter<BenchMessage>(unwatched)));

        var store = new FlowControlStateStore();
        store.Apply(new FlowControlStateChanged(Guid.NewGuid(), 1, Queue, FlowState.Normal, 10, 1_000, 500, null, [],
            DateTimeOffset.UtcNow.AddDays(1)));
        var watched = new ProducerControlFlowGate(store, options, NullLogger.Instance, controlFlowMetrics);
        _controlFlowNormal = Pipe.New<SendContext<BenchMessage>>(p => p.UseFilter(new ProducerControlFlowSendFilter<BenchMessage>(watched)));

        var classifier = new UrgentClassifier();
        classifier.Add<BenchMessage>(m => m.Number < 0);
        _ambulanceNotUrgent = Pipe.New<SendContext<BenchMessage>>(p => p.UseFilter(new UrgentClassificationFilter<BenchMessage>(classifier, new AmbulanceMetrics(meter))));

        _supervisorGate = new ElasticConcurrencyLimit(16);
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark(Baseline = true, Description = "bare")]
    public Task Bare() => _bare.Send(_context);

    [Benchmark(Description = "control_flow_unwatched")]
    public Task ControlFlowUnwatched() => _controlFlowUnwatched.Send(_context);

    [Benchmark(Description = "control_flow_normal")]
    public Task ControlFlowNormal() => _controlFlowNormal.Send(_context);

    [Benchmark(Description = "ambulance_classifier")]
    public Task AmbulanceNotUrgent() => _ambulanceNotUrgent.Send(_context);

    [Benchmark(Description = "supervisor_gate")]
    public async Task SupervisorGate()
    {
        await _supervisorGate.WaitAsync();
        _supervisorGate.Release();
    }
}
