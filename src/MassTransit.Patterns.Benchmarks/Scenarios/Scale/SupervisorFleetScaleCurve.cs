using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Supervisor.Fleet;
using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static MassTransit.Patterns.Benchmarks.Scenarios.Scale.CurveFigures;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale
{
    /// <summary>
    /// <c>supervisor-fleet</c>: N instances (1 → 20) of one supervised RabbitMQ queue, each a bus of its own in this process (in memory
    /// the buses could not share a queue, so this curve runs on RabbitMQ whatever the transport), with the supervisor saga on every
    /// instance, stored by the EF Core repository in PostgreSQL (optimistic concurrency, so heartbeats that meet conflict).
    /// Poll interval 500 ms, 1..8 consumers an instance, 10 messages a consumer. The consumers hold what they get, so the depth stays.
    /// <c>heartbeats_per_s</c>: heartbeats the saga applied per second over 10 polls at rest; <c>conflicts_per_min</c>: concurrency
    /// conflicts of the saga's rows per minute over the same window and the burst; <c>converge_polls</c>: after a burst large enough
    /// for every instance's maximum, poll intervals until every instance was told N instances and the target N × 8 and the limits
    /// they run sum to it.
    /// </summary>
    /// <param name="concurrency">How the saga repository keeps heartbeats to the one row apart: optimistic (the default, conflicts retried) or pessimistic (row lock).</param>
    public sealed class SupervisorFleetScaleCurve(SagaConcurrencyMode concurrency = SagaConcurrencyMode.Optimistic) : IScaleCurve
    {
        const int Min = 1, Max = 8, PerConsumer = 10;
        static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(500);

        public string Pattern => "supervisor-fleet";

        public string Unit => "instances (buses) sharing a queue, on RabbitMQ";

        public IReadOnlyList<long> Steps(BenchContext context) => context.Quick ? [1, 2, 5, 10] : [1, 2, 5, 10, 20];

        public async Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken)
        {
            var instances = (int)size;
            var figures = new Dictionary<string, double>(StringComparer.Ordinal);
            var queue = $"scale-fleet-{Guid.NewGuid():N}"[..24];
            var sagaQueue = queue + "-saga";
            var held = new FleetHold();
            await using var database = await ThrowawayDatabase<FleetScaleDb>.CreateAsync(true, "scale_fleet", o => new FleetScaleDb(o), maxPoolSize: 8,
                cancellationToken: cancellationToken);
            using var counters = new FleetCounters();
            var providers = Enumerable.Range(0, instances).Select(i => Instance($"instance-{i:00}", queue, sagaQueue, database, held, concurrency)).ToArray();
            var buses = providers.Select(p => p.GetRequiredService<IBusControl>()).ToArray();
            try
            {
                foreach (var bus in buses)
                    await bus.StartAsync(cancellationToken);
                var supervisors = providers.Select(p => p.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue)).ToArray();
                var watch = Stopwatch.StartNew();
                while (!supervisors.All(s => s.LastTick?.FleetInstances == instances))
                {
                    if (watch.Elapsed > TimeSpan.FromSeconds(60))
                        throw new TimeoutException($"the fleet of {instances} did not assemble: {Describe(supervisors)}");
                    await Task.Delay(20, cancellationToken);
                }
                context.Progress($"fleet {instances}: assembled in {watch.Elapsed.TotalSeconds:0.0} s (load {LoadAverage():0.00})");

                // At rest: heartbeats and conflicts over 10 polls.
                var (applied, conflicts) = (counters.Applied, counters.Conflicts);
                watch.Restart();
                await Task.Delay(Poll * 10, cancellationToken);
                var rest = watch.Elapsed;
                // Every apply of a heartbeat records the target, also one whose save then conflicted and was retried.
                figures["saga_applies_per_s"] = (counters.Applied - applied) / rest.TotalSeconds;
                figures["heartbeats_per_s"] = (counters.Applied - applied - (counters.Conflicts - conflicts)) / rest.TotalSeconds;
                figures["heartbeats_expected_per_s"] = instances / Poll.TotalSeconds;
                var restConflicts = counters.Conflicts - conflicts;

                // The burst: enough for every instance's maximum; converged when every instance agrees on N and N x Max and runs its share.
                var target = instances * Max;
                var burst = target * PerConsumer * 2;
                var send = await buses[0].GetSendEndpoint(new Uri($"exchange:{queue}"));
                conflicts = counters.Conflicts;
                watch.Restart();
                await Task.WhenAll(Enumerable.Range(0, burst).Select(i => send.Send(new FleetJob(i), cancellationToken)));
                var sent = watch.Elapsed;
                while (!Converged(supervisors, instances, target))
                {
                    if (watch.Elapsed > TimeSpan.FromSeconds(60))
                        throw new TimeoutException($"the fleet of {instances} did not converge on {target}: {Describe(supervisors)}");
                    await Task.Delay(5, cancellationToken);
                }
                var converged = watch.Elapsed;
                var burstConflicts = counters.Conflicts - conflicts;
                figures["converge_ms"] = converged.TotalMilliseconds;
                figures["converge_after_sent_ms"] = (converged - sent).TotalMilliseconds;
                figures["converge_polls"] = converged / Poll;
                figures["conflicts_per_min"] = (restConflicts + burstConflicts) / (rest + converged).TotalMinutes;
                figures["conflicts_at_rest_per_min"] = restConflicts / rest.TotalMinutes;
                figures["burst_messages"] = burst;
                figures["pessimistic"] = concurrency == SagaConcurrencyMode.Pessimistic ? 1 : 0;
                figures["load_avg_1m"] = LoadAverage();
                context.Progress($"fleet {instances} ({concurrency}): {figures["heartbeats_per_s"]:0.0} heartbeats/s ({figures["heartbeats_expected_per_s"]:0.0} expected), "
                                 + $"{figures["conflicts_per_min"]:0.0} conflicts/min; shares converged on {target} in {converged.TotalMilliseconds:0} ms "
                                 + $"({figures["converge_polls"]:0.00} polls; burst of {burst} sent in {sent.TotalMilliseconds:0} ms) (load {figures["load_avg_1m"]:0.00})");
                return new ScaleStep(size, figures);
            }
            finally
            {
                held.Release.TrySetResult();
                foreach (var bus in buses)
                    await bus.StopAsync(CancellationToken.None);
                foreach (var provider in providers)
                    await provider.DisposeAsync();
                await RabbitCleanup.DeleteEndpointsAsync([queue, sagaQueue]);
            }
        }

        public ScaleSummary Summarize(IReadOnlyList<ScaleStep> steps)
        {
            string[] growing = ["heartbeats_per_s", "conflicts_per_min", "converge_polls"];
            var largest = steps.Max(s => s.Size);
            var polls = AtLargest(steps, "converge_polls");
            var figures = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                [$"converge_polls_{largest}"] = polls,
                [$"heartbeats_per_s_{largest}"] = AtLargest(steps, "heartbeats_per_s"),
                [$"conflicts_per_min_{largest}"] = AtLargest(steps, "conflicts_per_min"),
                ["converge_bound_polls"] = 3,
                ["converge_bound_held"] = polls <= 3 ? 1 : 0
            };
            var growth = growing.ToDictionary(g => g, g => Growth(steps, g), StringComparer.Ordinal);
            var sentence = $"A fleet of {N(largest)} instances sends {F(AtLargest(steps, "heartbeats_per_s"))} heartbeats a second to the supervisor saga "
                           + $"({growth["heartbeats_per_s"]}: one per instance per poll interval), its saga row sees {F(AtLargest(steps, "conflicts_per_min"))} "
                           + $"concurrency conflicts a minute ({growth["conflicts_per_min"]}, each retried), and after a burst the shares converge in "
                           + $"{F(polls, "0.00")} poll intervals ({growth["converge_polls"]}).";
            return new ScaleSummary(figures, growth, sentence);
        }

        static ServiceProvider Instance(string id, string queue, string sagaQueue, ThrowawayDatabase<FleetScaleDb> database, FleetHold held,
            SagaConcurrencyMode concurrency) =>
            new ServiceCollection()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error))
                .AddMetrics()
                .AddSingleton(held)
                .AddConsumerSupervisorRegistry()
                .AddDbContext<FleetScaleDb>(database.Configure)
                .AddRabbitMqQueueDepthProbe(o =>
                {
                    o.HostName = ServiceEnvironment.RabbitHost;
                    o.Port = ServiceEnvironment.RabbitAmqpPort;
                    o.UserName = ServiceEnvironment.RabbitUser;
                    o.Password = ServiceEnvironment.RabbitPassword;
                })
                .AddMassTransit(x =>
                {
                    x.AddConsumer<HeldFleetJobConsumer>().Endpoint(e => e.Name = queue);
                    x.AddConsumerSupervisorSaga()
                        .Endpoint(e => e.Name = sagaQueue)
                        .PatternsEntityFrameworkRepository(r =>
                        {
                            r.ExistingDbContext<FleetScaleDb>();
                            r.ConcurrencyMode = concurrency;
                        });
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name == queue)
                            cfg.UseSupervisor(context, o =>
                            {
                                o.MinConsumers = Min;
                                o.MaxConsumers = Max;
                                o.MessagesPerConsumer = PerConsumer;
                                o.PollInterval = Poll;
                                o.ScaleDownCooldown = TimeSpan.FromSeconds(30);
                                o.UseFleet(f => f.InstanceId = id);
                            });
                    });
                    new BenchContext(BenchContext.RabbitMq, false).UseTransport(x);
                })
                .BuildServiceProvider(true);

        static bool Converged(IReadOnlyList<IConsumerSupervisor> supervisors, int instances, int target) =>
            supervisors.All(s => s.LastTick is { FleetInstances: var n, FleetTarget: var t } && n == instances && t == target)
            && supervisors.Sum(s => s.Limit) == target;

        static string Describe(IEnumerable<IConsumerSupervisor> supervisors) =>
            string.Join("; ", supervisors.Select(s => $"limit {s.Limit}, told {s.LastTick?.FleetTarget} of {s.LastTick?.FleetInstances}, depth {s.LastTick?.Depth}"));

        /// <summary>Heartbeats the saga applied (its fleet target gauge records once an apply, retries included) and saga concurrency conflicts.</summary>
        sealed class FleetCounters : IDisposable
        {
            readonly MeterListener _listener = new();
            long _applied;
            long _conflicts;

            public FleetCounters()
            {
                _listener.InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == PatternsDiagnostics.Name
                        && instrument.Name is PatternsDiagnostics.InstrumentPrefix + "supervisor.fleet.target" or PatternsDiagnostics.InstrumentPrefix + "saga.concurrency_conflicts")
                        listener.EnableMeasurementEvents(instrument);
                };
                _listener.SetMeasurementEventCallback<int>((instrument, _, _, _) =>
                {
                    if (instrument.Name.EndsWith("fleet.target", StringComparison.Ordinal))
                        Interlocked.Increment(ref _applied);
                });
                _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
                {
                    foreach (var tag in tags)
                        if (tag is { Key: "masstransit.saga.type", Value: nameof(ConsumerSupervisorState) })
                        {
                            Interlocked.Add(ref _conflicts, value);
                            return;
                        }
                });
                _listener.Start();
            }

            public long Applied => Interlocked.Read(ref _applied);

            public long Conflicts => Interlocked.Read(ref _conflicts);

            public void Dispose() => _listener.Dispose();
        }
    }

    /// <summary>The jobs of the fleet curve, held until the step ends (so the depth stays).</summary>
    public sealed class FleetHold
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public sealed record FleetJob(int Number);

    public sealed class HeldFleetJobConsumer(FleetHold held) : IConsumer<FleetJob>
    {
        public Task Consume(ConsumeContext<FleetJob> context) => held.Release.Task.WaitAsync(context.CancellationToken);
    }

    /// <summary>The application's DbContext of the fleet curve: the supervisor saga's rows.</summary>
    public sealed class FleetScaleDb(DbContextOptions<FleetScaleDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddSagaInstance<ConsumerSupervisorState>();
    }
}
