using MassTransit.Patterns.RabbitMQ.Ambulance;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>
    /// Patterns that cannot share an endpoint refuse to start together, naming both, instead of starting and quietly
    /// breaking one promise: the supervisor and the thread delegate both own the endpoint's concurrent message limit and
    /// prefetch; a lane consumes a key's urgent messages on a second endpoint, outside the thread delegate's per-key order.
    /// </summary>
    public sealed class RefusedPairsOnRabbitMqTests
    {
        public enum Order
        {
            SupervisorFirst,
            ThreadDelegateFirst
        }

        /// <summary>Builds and starts a bus whose endpoint <paramref name="queue"/> gets <paramref name="endpoint"/>; returns what the start threw.</summary>
        static async Task<Exception?> StartAsync(string queue, Action<IRegistrationContext, IReceiveEndpointConfigurator> endpoint,
            Action<IRegistrationContext, IRabbitMqBusFactoryConfigurator>? bus = null)
        {
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton<JobLog>()
                .AddRabbitMqQueueDepthProbe(CompositionKit.Probe)
                .AddMassTransit(x =>
                {
                    x.AddConsumer<JobConsumer>().Endpoint(e => e.Name = queue);
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name == queue)
                            endpoint(context, cfg);
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        CompositionKit.Host(cfg);
                        bus?.Invoke(context, cfg);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            IBusControl? started = null;
            try
            {
                started = provider.GetRequiredService<IBusControl>();
                await started.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
                return null;
            }
            catch (Exception e)
            {
                return e;
            }
            finally
            {
                if (started is not null)
                    await started.StopAsync(CancellationToken.None);
                await CompositionKit.DeleteAsync(queue);
            }
        }

        static void Supervise(IRegistrationContext context, IReceiveEndpointConfigurator e) =>
            e.UseSupervisor(context, o =>
            {
                o.MinConsumers = 1;
                o.MaxConsumers = 8;
            });

        static void OrderByKey(IRegistrationContext context, IReceiveEndpointConfigurator e) =>
            e.UseThreadDelegate(context, o =>
            {
                o.UseRabbitMqDeliveryOrder();
                o.Key<Job>(m => m.Key);
                o.Workers = 4;
            });

        [Theory]
        [InlineData(Order.SupervisorFirst)]
        [InlineData(Order.ThreadDelegateFirst)]
        public async Task Supervisor_and_thread_delegate_on_one_endpoint_fail_the_start_naming_both(Order order)
        {
            var queue = Broker.UniqueQueue("cmp-sup-td");

            var failure = await StartAsync(queue, (context, e) =>
            {
                if (order == Order.SupervisorFirst)
                {
                    Supervise(context, e);
                    OrderByKey(context, e);
                }
                else
                {
                    OrderByKey(context, e);
                    Supervise(context, e);
                }
            });

            Assert.NotNull(failure);
            CompositionKit.Print(failure.Message);
            Assert.IsType<ConfigurationException>(failure, exactMatch: false);
            Assert.Contains("UseSupervisor", failure.Message);
            Assert.Contains("UseThreadDelegate", failure.Message);
            Assert.Contains($"'{queue}'", failure.Message);
        }

        [Fact]
        public async Task A_lane_beside_a_thread_delegate_endpoint_fails_the_start_naming_both()
        {
            var queue = Broker.UniqueQueue("cmp-lane-td");

            var failure = await StartAsync(queue, (context, e) => OrderByKey(context, e),
                (context, cfg) => cfg.UseAmbulanceLane(context, a => a.Endpoint(queue)));

            Assert.NotNull(failure);
            CompositionKit.Print(failure.Message);
            Assert.IsType<ConfigurationException>(failure, exactMatch: false);
            Assert.Contains($"AmbulanceConfigurator.Endpoint(\"{queue}\")", failure.Message);
            Assert.Contains("UseThreadDelegate", failure.Message);
            Assert.Contains($"'{queue}'", failure.Message);
        }
    }
}
