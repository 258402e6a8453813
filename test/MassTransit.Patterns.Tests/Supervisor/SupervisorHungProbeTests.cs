using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>
/// A depth probe that hangs and ignores its cancellation token (as a client stuck on a frozen broker
/// does): the supervisor must go on looking every poll interval, bounded by its probe timeout, count
/// and log each failed reading, never use the reading that arrives late, and keep its fleet heartbeats.
/// Real time, short intervals: the hang is real, only the probe is simulated.
/// </summary>
public sealed class SupervisorHungProbeTests
{
    const string Queue = "hung-probe-work";
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100), ProbeTimeout = TimeSpan.FromMilliseconds(300);
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>Every log entry (level, event id, message).</summary>
    public sealed class RecordingLogger : ILogger
    {
        public ConcurrentQueue<(LogLevel Level, int EventId, string Message)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((logLevel, eventId.Id, formatter(state, exception)));
    }

    static SupervisorOptions Options() => new()
    {
        MinConsumers = 1,
        MaxConsumers = 8,
        MessagesPerConsumer = 10,
        PollInterval = Poll,
        ProbeTimeout = ProbeTimeout,
        ScaleDownCooldown = TimeSpan.FromMinutes(1)
    };

    [Fact]
    public async Task A_hung_probe_costs_at_most_the_probe_timeout_per_look_each_look_is_counted_logged_and_measured_and_the_late_reading_is_discarded()
    {
        long counted = 0;
        await using var metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = metrics.GetRequiredService<IMeterFactory>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == meterFactory && instrument.Name == "masstransit.patterns.supervisor.probe.failures")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag is { Key: PatternsTags.Queue, Value: Queue })
                    Interlocked.Add(ref counted, value);
        });
        listener.Start();

        var probe = new HungQueueDepthProbe { Ready = 25 };
        var logger = new RecordingLogger();
        var gate = new ElasticConcurrencyLimit(1);
        var ticks = new ConcurrentQueue<(SupervisorTick Tick, TimeSpan Took)>();
        await using var supervisor = new ConsumerSupervisor(Queue, Options(), gate, probe, logger, instruments: SupervisorInstruments.From(metrics));
        var lastTickAt = Stopwatch.StartNew();
        supervisor.Ticked += t =>
        {
            ticks.Enqueue((t, lastTickAt.Elapsed));
            lastTickAt.Restart();
        };
        try
        {
            await supervisor.StartAsync(TestContext.Current.CancellationToken);
            await Eventually.True(() => supervisor.LastTick?.Depth == 25, Wait, "the first readings arrive");
            Assert.Equal(3, supervisor.Limit);   // ceil(25 / 10)

            probe.Switch.Hang();
            var hungAt = supervisor.Ticks;
            await Eventually.True(() => supervisor.ProbeFailures >= 10, Wait,
                $"the supervisor keeps looking while the probe hangs (ticks {supervisor.Ticks}, failures {supervisor.ProbeFailures})");
            var during = ticks.Skip((int)hungAt + 1).Select(t => t.Tick).Where(t => t.Failure is not null).ToArray();
            Assert.NotEmpty(during);
            Assert.All(during, t =>
            {
                Assert.Null(t.Depth);
                Assert.Equal((ScalingDirection.Hold, 3), (t.Direction, t.Limit));
            });
            // One look never waits longer than the probe timeout plus scheduling slack, whatever the probe does.
            Assert.All(ticks.Skip((int)hungAt + 1), t => Assert.True(t.Took < ProbeTimeout + TimeSpan.FromMilliseconds(700),
                $"a look took {t.Took.TotalMilliseconds:0} ms with a probe timeout of {ProbeTimeout.TotalMilliseconds:0} ms"));
            Assert.Contains(during, t => t.Failure!.Contains("no answer within", StringComparison.Ordinal));
            // The hung call is not piled up: one call hangs, later looks do not start more.
            Assert.Equal(1, probe.Switch.Hanging);
            Assert.Equal(supervisor.ProbeFailures, Interlocked.Read(ref counted));
            Assert.Contains(logger.Entries, e => e is { Level: LogLevel.Warning, EventId: 2003 } && e.Message.Contains("Timeout", StringComparison.Ordinal));

            // The hung call returns now, long after its deadline, with a depth that must never be used.
            probe.Ready = 55;
            probe.Switch.Release();
            await Eventually.True(() => supervisor.LastTick?.Depth == 55, Wait, "fresh readings are used again");
            Assert.DoesNotContain(ticks, t => t.Tick.Depth == probe.LateReady);
            Assert.Equal(1, probe.Switch.Calls);
            Assert.Equal(6, supervisor.Limit);

            // Stopping does not wait for a hung probe either.
            probe.Switch.Hang();
            await Eventually.True(() => probe.Switch.Hanging == 1, Wait, "a look is stuck in the probe");
            var stopping = Stopwatch.StartNew();
            await supervisor.StopAsync(TestContext.Current.CancellationToken);
            Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(2), $"stop took {stopping.Elapsed.TotalMilliseconds:0} ms with the probe hung");
        }
        finally
        {
            // Whatever failed above: the hung call returns, so that disposing the supervisor cannot wait on it.
            probe.Switch.Release();
        }
    }

    [Fact]
    public async Task In_fleet_mode_heartbeats_go_on_every_poll_while_the_probe_hangs_reporting_the_failure()
    {
        var probe = new HungQueueDepthProbe { Ready = 0 };
        await using var provider = SupervisorFleetHarness.Build(Queue, probe, o =>
        {
            o.MinConsumers = 1;
            o.MaxConsumers = 8;
            o.PollInterval = Poll;
            o.ProbeTimeout = ProbeTimeout;
            o.UseFleet(f => f.RequestTimeout = TimeSpan.FromSeconds(2));
        });
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var supervisor = provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(Queue);
            var ticks = new ConcurrentQueue<SupervisorTick>();
            supervisor.Ticked += ticks.Enqueue;
            await Eventually.True(() => supervisor.LastTick?.FleetInstances == 1, Wait, "the saga answers heartbeats");

            probe.Switch.Hang();
            var failuresBefore = supervisor.ProbeFailures;
            await Eventually.True(() => ticks.Count(t => t.Depth is null && t.FleetInstances == 1) >= 10, Wait,
                $"heartbeats go on while the probe hangs (ticks {supervisor.Ticks}, failures {supervisor.ProbeFailures})");
            Assert.True(supervisor.ProbeFailures - failuresBefore >= 10);
            Assert.Equal(0, supervisor.FleetFailures);
            Assert.Equal(1, probe.Switch.Hanging);
            probe.Switch.Release();
        }
        finally
        {
            probe.Switch.Release();
            await harness.Stop();
        }
    }
}
