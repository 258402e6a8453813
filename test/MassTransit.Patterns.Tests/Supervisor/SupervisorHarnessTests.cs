using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.QueueDepth.InMemory;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>
/// A supervised endpoint under the test harness. The supervisor runs on a fake clock, so every look
/// happens when the test advances it by one poll interval, and cool-downs are exact; the bus and
/// the consumers run on real time. The consumer holds each message until the test lets go, so the
/// concurrency seen inside it is exactly what the gate admits.
/// </summary>
public sealed class SupervisorHarnessTests
{
    const string Queue = "supervised-work";
    const int Min = 1, Max = 8, PerConsumer = 5, Burst = 100;
    static readonly TimeSpan Poll = TimeSpan.FromSeconds(1), Cooldown = TimeSpan.FromSeconds(10);
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>Counts the messages being consumed at once, inside the consumer.</summary>
    public sealed class Tracker
    {
        int _current, _peak, _consumed;

        public TaskCompletionSource Hold { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Current => Volatile.Read(ref _current);

        public int Peak => Volatile.Read(ref _peak);

        public int Consumed => Volatile.Read(ref _consumed);

        public async Task Consume()
        {
            var now = Interlocked.Increment(ref _current);
            int peak;
            while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
            {
            }
            try
            {
                await Hold.Task;
            }
            finally
            {
                Interlocked.Decrement(ref _current);
                Interlocked.Increment(ref _consumed);
            }
        }
    }

    public sealed class HeldConsumer(Tracker tracker) : IConsumer<WorkItem>
    {
        public Task Consume(ConsumeContext<WorkItem> context) => tracker.Consume();
    }

    /// <summary>The pattern turned on through a consumer definition, as an application would.</summary>
    public sealed class HeldConsumerDefinition : ConsumerDefinition<HeldConsumer>
    {
        public HeldConsumerDefinition() => EndpointName = Queue;

        protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<HeldConsumer> consumerConfigurator,
            IRegistrationContext context) =>
            endpointConfigurator.UseSupervisor(context, o =>
            {
                o.MinConsumers = Min;
                o.MaxConsumers = Max;
                o.MessagesPerConsumer = PerConsumer;
                o.PollInterval = Poll;
                o.ScaleDownCooldown = Cooldown;
                context.GetService<Action<SupervisorOptions>>()?.Invoke(o);
            });
    }

    /// <summary>The in-memory probe, made to throw on demand.</summary>
    public sealed class FlakyProbe(InMemoryQueueDepthProbe inner) : IQueueDepthProbe
    {
        public volatile bool Fail;

        public string Name => "flaky";

        public bool KnowsUnacknowledged => inner.KnowsUnacknowledged;

        public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) =>
            Fail ? throw new InvalidOperationException("broker down") : inner.GetDepthAsync(queue, cancellationToken);
    }

    sealed class Rig : IAsyncDisposable
    {
        readonly ServiceProvider _provider;
        readonly List<SupervisorTick> _ticks = [];
        bool _started;

        public Rig(Action<SupervisorOptions>? configure = null, Action<IServiceCollection>? services = null, Action<IBusRegistrationConfigurator>? bus = null)
        {
            var collection = new ServiceCollection()
                .AddSingleton<TimeProvider>(Time)
                .AddSingleton(Tracker)
                .AddConsumerSupervisorRegistry()
                .AddInMemoryQueueDepthProbe();
            collection.AddSingleton<FlakyProbe>();
            collection.Replace(ServiceDescriptor.Singleton<IQueueDepthProbe>(sp => sp.GetRequiredService<FlakyProbe>()));
            if (configure is not null)
                collection.AddSingleton(configure);
            services?.Invoke(collection);
            collection.AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<HeldConsumer, HeldConsumerDefinition>();
                bus?.Invoke(x);
            });
            _provider = collection.BuildServiceProvider(true);
            Harness = _provider.GetRequiredService<ITestHarness>();
        }

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

        public Tracker Tracker { get; } = new();

        public ITestHarness Harness { get; }

        public FlakyProbe Probe => _provider.GetRequiredService<FlakyProbe>();

        public IConsumerSupervisor Supervisor => _provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(Queue);

        public async Task StartAsync()
        {
            await Harness.Start();
            _started = true;
            Supervisor.Ticked += t =>
            {
                lock (_ticks)
                    _ticks.Add(t);
            };
            await Eventually.True(() => Supervisor.Ticks >= 1, Wait, "the supervisor takes its first look when the endpoint is ready");
        }

        /// <summary>Advances the supervisor's clock by one poll interval and waits for the look it triggers.</summary>
        public async Task<SupervisorTick> NextTickAsync()
        {
            var before = Supervisor.Ticks;
            Time.Advance(Poll);
            await Eventually.True(() => Supervisor.Ticks > before, Wait, "the supervisor looks once per poll interval");
            return Supervisor.LastTick!;
        }

        public async Task SendBurstAsync()
        {
            var endpoint = await Harness.Bus.GetSendEndpoint(new Uri($"queue:{Queue}"));
            await endpoint.SendBatch(Enumerable.Range(0, Burst).Select(i => new WorkItem(i)));
            // The limit is still the minimum: one message in the consumer, the rest waiting.
            await Eventually.True(() => Tracker.Current == Min && Supervisor.Waiting + Supervisor.Active == Max, Wait,
                "the transport hands the endpoint up to its maximum and the gate admits the minimum");
        }

        public IReadOnlyList<SupervisorTick> Ticks
        {
            get
            {
                lock (_ticks)
                    return _ticks.ToArray();
            }
        }

        public async ValueTask DisposeAsync()
        {
            Tracker.Hold.TrySetResult();
            if (_started)
                await Harness.Stop();
            await _provider.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_burst_raises_concurrency_to_max_never_above_and_it_returns_to_min_only_after_the_cool_down()
    {
        await using var rig = new Rig();
        await rig.StartAsync();
        Assert.Equal(Min, rig.Supervisor.Limit);

        await rig.SendBurstAsync();
        var up = await rig.NextTickAsync();

        // ceil(99 / 5) = 20 consumers wanted: clamped to the maximum, in one step.
        Assert.Equal(Burst - Min, up.Depth);
        Assert.Equal((ScalingDirection.Up, Max), (up.Direction, up.Limit));
        await Eventually.True(() => rig.Tracker.Current == Max, Wait, "eight messages are consumed at once");
        for (var i = 0; i < 3; i++)
            Assert.Equal(Max, (await rig.NextTickAsync()).Limit);
        Assert.Equal(Max, rig.Tracker.Peak);
        Assert.Equal(Max, rig.Supervisor.PeakActive);

        rig.Tracker.Hold.SetResult();
        await Eventually.True(() => rig.Tracker.Consumed == Burst, Wait, "the burst is consumed");
        Assert.True(rig.Tracker.Peak <= Max, $"never more than {Max} at once (peak {rig.Tracker.Peak})");

        // The first empty reading starts the cool-down; the level holds until a whole cool-down has passed.
        var quiet = await rig.NextTickAsync();
        Assert.Equal((0L, Max), (quiet.Depth!.Value, quiet.Limit));
        var polls = (int)(Cooldown / Poll);
        for (var i = 1; i < polls; i++)
        {
            var tick = await rig.NextTickAsync();
            Assert.True(tick.Limit == Max, $"{i} s after the queue emptied, within the {Cooldown} cool-down, the level holds (was {tick.Limit})");
        }
        var down = await rig.NextTickAsync();
        Assert.Equal(Cooldown, down.At - quiet.At);
        Assert.Equal((ScalingDirection.Down, Min), (down.Direction, down.Limit));
        Assert.All(rig.Ticks, t => Assert.InRange(t.Limit, Min, Max));
    }

    [Fact]
    public async Task An_exception_in_the_probe_holds_the_level_and_is_counted()
    {
        long counted = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.supervisor.probe.failures")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag is { Key: PatternsTags.Queue, Value: Queue })
                    Interlocked.Add(ref counted, value);
        });
        listener.Start();

        await using var rig = new Rig();
        await rig.StartAsync();
        await rig.SendBurstAsync();
        Assert.Equal(Max, (await rig.NextTickAsync()).Limit);

        rig.Probe.Fail = true;
        rig.Tracker.Hold.SetResult();
        await Eventually.True(() => rig.Tracker.Consumed == Burst, Wait, "the burst is consumed");
        var failing = (int)(Cooldown / Poll) * 2;
        for (var i = 0; i < failing; i++)
        {
            var tick = await rig.NextTickAsync();
            Assert.Null(tick.Depth);
            Assert.Contains("broker down", tick.Failure);
            Assert.Equal((ScalingDirection.Hold, Max), (tick.Direction, tick.Limit));
        }
        Assert.Equal(failing, rig.Supervisor.ProbeFailures);
        Assert.Equal(failing, Interlocked.Read(ref counted));

        // Readable again: the empty queue starts a cool-down from now, not from before the failures.
        rig.Probe.Fail = false;
        var recovered = await rig.NextTickAsync();
        Assert.Equal((0L, Max), (recovered.Depth!.Value, recovered.Limit));
        for (var i = 1; i < (int)(Cooldown / Poll); i++)
            Assert.Equal(Max, (await rig.NextTickAsync()).Limit);
        Assert.Equal(Min, (await rig.NextTickAsync()).Limit);
    }

    [Fact]
    public async Task Ready_and_unacknowledged_counts_the_messages_in_flight_too()
    {
        await using var rig = new Rig(o => o.DepthMeasure = DepthMeasure.ReadyAndUnacknowledged);
        await rig.StartAsync();
        await rig.SendBurstAsync();

        var tick = await rig.NextTickAsync();

        Assert.Equal(Burst, tick.Depth);
        Assert.Equal(Max, tick.Limit);
    }

    [Fact]
    public async Task In_fleet_mode_the_limit_is_the_share_the_supervisor_saga_assigns()
    {
        await using var rig = new Rig(o => o.UseFleet(f => f.RequestTimeout = TimeSpan.FromSeconds(1)),
            bus: x => x.AddConsumerSupervisorSaga().InMemoryRepository());
        await rig.StartAsync();
        // The first heartbeat may go out before the saga's endpoint is bound: unanswered, it holds the level.
        var first = rig.Supervisor.LastTick!;
        for (var i = 0; i < 5 && first.FleetInstances is null; i++)
        {
            Assert.Equal(Min, first.Limit);
            first = await rig.NextTickAsync();
        }
        Assert.Equal((1, Min, (string?)null), (first.FleetInstances, first.FleetTarget, first.Failure));

        await rig.SendBurstAsync();
        var tick = await rig.NextTickAsync();

        Assert.Equal((1, Max, Max), (tick.FleetInstances, tick.FleetTarget, tick.Limit));
        await Eventually.True(() => rig.Tracker.Current == Max, Wait, "the share is applied to the gate");
        Assert.Equal(0, rig.Supervisor.FleetFailures); // reset by every answer
    }

    [Fact]
    public async Task Invalid_options_fail_the_bus_start_naming_each_option()
    {
        await using var rig = new Rig(o =>
        {
            o.MinConsumers = 10;
            o.MaxConsumers = 4;
            o.ScaleDownHysteresis = 1.5;
        });

        var failure = await Assert.ThrowsAsync<ConfigurationException>(rig.StartAsync);

        Assert.Contains("SupervisorOptions.MaxConsumers", failure.ToString());
        Assert.Contains("SupervisorOptions.ScaleDownHysteresis", failure.ToString());
    }

    /// <summary>A probe that sees only ready messages, as the RabbitMQ AMQP probe does.</summary>
    sealed class ReadyOnlyProbe : IQueueDepthProbe
    {
        public string Name => "ready-only";

        public bool KnowsUnacknowledged => false;

        public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) =>
            Task.FromResult(new QueueDepthSample(queue, 0, null, null, DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task Counting_unacknowledged_with_a_probe_that_cannot_fails_the_bus_start()
    {
        await using var rig = new Rig(o => o.DepthMeasure = DepthMeasure.ReadyAndUnacknowledged,
            s => s.Replace(ServiceDescriptor.Singleton<IQueueDepthProbe>(new ReadyOnlyProbe())));

        var failure = await Assert.ThrowsAsync<ConfigurationException>(rig.StartAsync);

        Assert.Contains("SupervisorOptions.DepthMeasure", failure.ToString());
        Assert.Contains("ready-only", failure.ToString());
    }
}
