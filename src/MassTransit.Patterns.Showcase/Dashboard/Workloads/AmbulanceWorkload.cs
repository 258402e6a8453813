using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Showcase.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>An order to pick (the ambulance workload's queue); express ones are urgent.</summary>
public sealed record AmbulanceOrder(int Number, bool Express);

/// <summary>
/// The ambulance lane: a queue of 40 ms orders with 4 slots of its own and a lane of 2 beside it (ambulance mode: one
/// budget of 6, idle lane slots lent to standard orders). Every 3 s a batch of 300 standard orders makes a backlog;
/// three express orders a second go through the lane, waiting only for work in flight.
/// </summary>
public sealed class AmbulanceWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-ambulance-orders";
    public const int QueueSlots = 4;
    public const int LaneSlots = 2;

    public string Name => "ambulance";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        services.AddAmbulanceLaneRegistry();
        services.AddSingleton<Traffic>();
        services.AddHostedService<Producer>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context) =>
        x.AddConsumer<OrderConsumer>().Endpoint(e =>
        {
            e.Name = Queue;
            e.ConcurrentMessageLimit = QueueSlots;
            e.PrefetchCount = 32;
        });

    public void ConfigureBus(IBusRegistrationContext context, IBusFactoryConfigurator cfg)
    {
        static void Lane(AmbulanceConfigurator a)
        {
            a.Urgent<AmbulanceOrder>(o => o.Express);
            a.Endpoint(Queue, lane =>
            {
                lane.Mode = AmbulanceMode.Ambulance;
                lane.ConcurrentMessageLimit = LaneSlots;
            });
        }

        if (cfg is IRabbitMqBusFactoryConfigurator rabbit)
            rabbit.UseAmbulanceLane(context, Lane);
        else
            cfg.UseAmbulanceLane(context, Lane);
    }

    /// <summary>Pauses the producers: <see cref="UrgentPaused"/> the express orders alone.</summary>
    public sealed class Traffic : WorkloadTraffic
    {
        volatile bool _urgentPaused;
        long _express;
        long _picked;

        /// <summary>True while no express order is sent.</summary>
        public bool UrgentPaused
        {
            get => _urgentPaused;
            set => _urgentPaused = value;
        }

        /// <summary>Express orders sent.</summary>
        public long ExpressSent => Interlocked.Read(ref _express);

        /// <summary>Express orders picked.</summary>
        public long ExpressPicked => Interlocked.Read(ref _picked);

        internal void CountExpressSent() => Interlocked.Increment(ref _express);

        internal void CountExpressPicked() => Interlocked.Increment(ref _picked);
    }

    /// <summary>Picks one order in 40 ms.</summary>
    public sealed class OrderConsumer(Traffic traffic) : IConsumer<AmbulanceOrder>
    {
        public async Task Consume(ConsumeContext<AmbulanceOrder> context)
        {
            await Task.Delay(40, context.CancellationToken);
            if (context.Message.Express)
                traffic.CountExpressPicked();
        }
    }

    sealed class Producer(IBus bus, Traffic traffic) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{Queue}"));
                var n = 0;
                var nextBatch = DateTimeOffset.UtcNow;
                while (!stoppingToken.IsCancellationRequested)
                {
                    await traffic.WhilePausedAsync(stoppingToken);
                    if (DateTimeOffset.UtcNow >= nextBatch)
                    {
                        nextBatch = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(3);
                        var start = n;
                        n += 300;
                        await Task.WhenAll(Enumerable.Range(start, 300).Select(i => endpoint.Send(new AmbulanceOrder(i, false), stoppingToken)));
                    }
                    if (!traffic.UrgentPaused)
                    {
                        await endpoint.Send(new AmbulanceOrder(n++, true), stoppingToken);
                        traffic.CountExpressSent();
                    }
                    await Task.Delay(333, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
