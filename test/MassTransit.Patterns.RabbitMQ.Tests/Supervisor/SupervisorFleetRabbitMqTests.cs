using System.Collections.Concurrent;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Tests.Supervisor.Messages;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Supervisor.Fleet;
using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Supervisor
{
    /// <summary>The application's DbContext, with the supervisor saga mapped into it.</summary>
    public sealed class FleetDb(DbContextOptions<FleetDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddSagaInstance<ConsumerSupervisorState>();
    }

    /// <summary>
    /// Three bus instances consume one RabbitMQ queue, each supervised in fleet mode; the supervisor
    /// saga runs on all three, stored with the EF Core repository in one PostgreSQL database.
    /// </summary>
    public sealed class SupervisorFleetRabbitMqTests
    {
        const int Instances = 3, Min = 1, Max = 8, PerConsumer = 20, Messages = 240;
        static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250), InstanceTimeout = TimeSpan.FromSeconds(1.5);
        static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

        /// <summary>Shared by the three instances: consumers hold their message until released.</summary>
        public sealed class Held
        {
            public readonly TaskCompletionSource Release = new(TaskCreationOptions.RunContinuationsAsynchronously);
            public readonly ConcurrentDictionary<int, int> Deliveries = new();
            public readonly ConsumedMessages Consumed = new();
            public int Redelivered;
        }

        public sealed class HeldJobConsumer(Held held) : IConsumer<SupervisedJob>
        {
            public async Task Consume(ConsumeContext<SupervisedJob> context)
            {
                if (context.ReceiveContext.Redelivered)
                    Interlocked.Increment(ref held.Redelivered);
                await held.Release.Task;
                held.Deliveries.AddOrUpdate(context.Message.Number, 1, (_, n) => n + 1);
                held.Consumed.Record(context);
            }
        }

        static ServiceProvider Instance(string id, string queue, string sagaQueue, string connectionString, Held held) =>
            new ServiceCollection()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(held)
                .AddConsumerSupervisorRegistry()
                .AddDbContext<FleetDb>(o => o.UseNpgsql(connectionString))
                .AddRabbitMqQueueDepthProbe(o =>
                {
                    o.HostName = ServiceEnvironment.RabbitHost;
                    o.Port = ServiceEnvironment.RabbitAmqpPort;
                    o.UserName = ServiceEnvironment.RabbitUser;
                    o.Password = ServiceEnvironment.RabbitPassword;
                })
                .AddMassTransit(x =>
                {
                    x.AddConsumer<HeldJobConsumer>().Endpoint(e => e.Name = queue);
                    x.AddConsumerSupervisorSaga()
                        .Endpoint(e => e.Name = sagaQueue)
                        .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<FleetDb>());
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name == queue)
                            cfg.UseSupervisor(context, o =>
                            {
                                o.MinConsumers = Min;
                                o.MaxConsumers = Max;
                                o.MessagesPerConsumer = PerConsumer;
                                o.PollInterval = Poll;
                                o.ScaleDownCooldown = TimeSpan.FromSeconds(1);
                                o.UseFleet(f =>
                                {
                                    f.InstanceId = id;
                                    f.InstanceTimeout = InstanceTimeout;
                                });
                            });
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);

        [Fact]
        public async Task Three_instances_share_the_saga_target_instead_of_each_scaling_to_max_and_a_silent_one_drops_out()
        {
            var queue = Broker.UniqueQueue("fleet");
            var sagaQueue = Broker.UniqueQueue("fleet-saga");
            var connectionString = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
            { Database = $"supervisor_{Guid.NewGuid():N}"[..24] }.ConnectionString;
            var held = new Held();
            string[] ids = ["instance-a", "instance-b", "instance-c"];
            var providers = ids.Select(id => Instance(id, queue, sagaQueue, connectionString, held)).ToArray();
            await using (var scope = providers[0].CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<FleetDb>().Database.EnsureCreatedAsync(TestContext.Current.CancellationToken);

            var buses = providers.Select(p => p.GetRequiredService<IBusControl>()).ToArray();
            try
            {
                foreach (var bus in buses)
                    await bus.StartAsync(TestContext.Current.CancellationToken);
                var supervisors = providers.Select(p => p.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue)).ToArray();

                var endpoint = await buses[0].GetSendEndpoint(new Uri($"exchange:{queue}"));
                await Task.WhenAll(Enumerable.Range(0, Messages).Select(i => endpoint.Send(new SupervisedJob(i))));

                // Converged: every instance was told the same fleet of three and target, and the shares they run sum to it.
                await Eventually.True(() => Converged(supervisors, Instances), Wait, () => $"shares converge ({Describe(supervisors)})", TimeSpan.FromMilliseconds(50));
                var target = supervisors[0].LastTick!.FleetTarget!.Value;
                TestContext.Current.TestOutputHelper?.WriteLine($"three instances: {Describe(supervisors)}");
                Assert.Equal(target, supervisors.Sum(s => s.Limit));
                Assert.InRange(target, Instances * Min, Instances * Max - 1);
                Assert.All(supervisors, s => Assert.InRange(s.Limit, target / Instances, target / Instances + 1));
                // Each alone would want ceil(depth / 20) >= 8 = Max (Converged checked the depth): together they run under 3 x Max.
                var stored = await ReadSagaAsync(providers[0], queue);
                Assert.Equal((Instances, target), (stored.InstanceCount, stored.Target));
                Assert.Equal(target, SupervisorFleet.ReadInstances(stored.Instances).Sum(i => i.Share));

                // instance-c stops heartbeating (its supervisor dies, its endpoint keeps what it holds).
                await ((ConsumerSupervisor)supervisors[2]).StopAsync(TestContext.Current.CancellationToken);
                var live = supervisors[..2];
                await Eventually.True(() => Converged(live, 2), Wait, () => $"the two live instances share the target ({Describe(live)})", TimeSpan.FromMilliseconds(50));
                Assert.Equal(live[0].LastTick!.FleetTarget, live.Sum(s => s.Limit));
                TestContext.Current.TestOutputHelper?.WriteLine($"two instances: {Describe(live)}");
                stored = await ReadSagaAsync(providers[0], queue);
                Assert.Equal(2, stored.InstanceCount);
                Assert.DoesNotContain(SupervisorFleet.ReadInstances(stored.Instances), i => i.Id == "instance-c");

                held.Release.SetResult();
                await Eventually.True(() => held.Deliveries.Count == Messages, Wait, "every job consumed");
                Assert.All(held.Deliveries, d => Assert.Equal(1, d.Value));
                Assert.Equal(0, held.Redelivered);
                // The jobs all consumed, none left or dead-lettered; nothing of the supervisor saga's faulted or was skipped.
                await new MessageAccount()
                    .Sent(Messages, "jobs")
                    .Consumed(held.Consumed, Expect.Exactly(Messages))
                    .Endpoint(queue, Expect.Empty)
                    .Queue(sagaQueue + "_error", Expect.Empty)
                    .Queue(sagaQueue + "_skipped", Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                held.Release.TrySetResult();
                foreach (var bus in buses)
                    await bus.StopAsync(CancellationToken.None);
                await using (var scope = providers[0].CreateAsyncScope())
                    await scope.ServiceProvider.GetRequiredService<FleetDb>().Database.EnsureDeletedAsync(CancellationToken.None);
                foreach (var provider in providers)
                    await provider.DisposeAsync();
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                await using var channel = await connection.CreateChannelAsync();
                foreach (var name in new[] { queue, sagaQueue })
                {
                    await channel.QueueDeleteAsync(name);
                    await channel.ExchangeDeleteAsync(name);
                }
            }
        }

        /// <summary>
        /// Every instance's last answer names <paramref name="instances"/> live instances and one target,
        /// for a depth at which one instance alone would run its maximum, and their limits sum to it.
        /// </summary>
        static bool Converged(IReadOnlyList<IConsumerSupervisor> supervisors, int instances)
        {
            var ticks = supervisors.Select(s => s.LastTick).ToArray();
            if (ticks.Any(t => t?.FleetInstances != instances || t.FleetTarget is null || !(t.Depth >= Max * PerConsumer)))
                return false;
            var target = ticks[0]!.FleetTarget;
            return ticks.All(t => t!.FleetTarget == target) && supervisors.Sum(s => s.Limit) == target;
        }

        static string Describe(IEnumerable<IConsumerSupervisor> supervisors) =>
            string.Join("; ", supervisors.Select(s => $"limit {s.Limit}, told {s.LastTick?.FleetTarget} of {s.LastTick?.FleetInstances}, depth {s.LastTick?.Depth}, {s.LastTick?.Failure}"));

        static async Task<ConsumerSupervisorState> ReadSagaAsync(IServiceProvider provider, string queue)
        {
            await using var scope = provider.CreateAsyncScope();
            var id = SupervisorFleet.CorrelationIdOf(queue);
            return await scope.ServiceProvider.GetRequiredService<FleetDb>().Set<ConsumerSupervisorState>().AsNoTracking().SingleAsync(x => x.CorrelationId == id);
        }
    }
}
