using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Supervisor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>A thumbnail to render (the supervisor workload's queue that decides alone).</summary>
public sealed record SupervisorThumbnail(int Number);

/// <summary>A thumbnail to render (the supervisor workload's fleet queue).</summary>
public sealed record SupervisorFleetThumbnail(int Number);

/// <summary>
/// The supervisor: two supervised queues of 40 ms thumbnails, fed a burst of 300 every 30 s and two a second between
/// bursts, so the limit climbs with each burst and falls back after the cool-down. <see cref="Queue"/> decides alone;
/// <see cref="FleetQueue"/> asks the fleet saga (in memory) for its share.
/// </summary>
public sealed class SupervisorWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-supervisor-thumbnails";
    public const string FleetQueue = "showcase-supervisor-fleet";
    public const int MinConsumers = 1;
    public const int MaxConsumers = 8;
    public const int Burst = 300;
    public static readonly TimeSpan BurstEvery = TimeSpan.FromSeconds(30);

    public string Name => "supervisor";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        QueueDepthServices.AddProbe(services, context);
        services.AddConsumerSupervisorRegistry();
        services.AddSingleton<Traffic>();
        services.AddHostedService<Producer>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context)
    {
        x.AddConsumerSupervisorSaga().InMemoryRepository();
        x.AddConsumer<ThumbnailConsumer>().Endpoint(e => e.Name = Queue);
        x.AddConsumer<FleetThumbnailConsumer>().Endpoint(e => e.Name = FleetQueue);
    }

    public void ConfigureEndpoint(IRegistrationContext context, string queueName, IReceiveEndpointConfigurator cfg)
    {
        if (queueName is not (Queue or FleetQueue))
            return;
        cfg.UseSupervisor(context, o =>
        {
            o.MinConsumers = MinConsumers;
            o.MaxConsumers = MaxConsumers;
            o.MessagesPerConsumer = 10;
            o.ScaleDownCooldown = TimeSpan.FromSeconds(5);
            if (queueName == FleetQueue)
                o.UseFleet(f => f.InstanceId = $"{Environment.MachineName}-showcase");
        });
    }

    /// <summary>Pauses the bursts and the trickle.</summary>
    public sealed class Traffic : WorkloadTraffic;

    /// <summary>Renders one in 40 ms.</summary>
    public sealed class ThumbnailConsumer : IConsumer<SupervisorThumbnail>
    {
        public Task Consume(ConsumeContext<SupervisorThumbnail> context) => Task.Delay(40, context.CancellationToken);
    }

    /// <summary>Renders one in 40 ms.</summary>
    public sealed class FleetThumbnailConsumer : IConsumer<SupervisorFleetThumbnail>
    {
        public Task Consume(ConsumeContext<SupervisorFleetThumbnail> context) => Task.Delay(40, context.CancellationToken);
    }

    /// <summary>A burst to both queues every <see cref="BurstEvery"/> (the first after 2 s), two a second between.</summary>
    sealed class Producer(IBus bus, Traffic traffic) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                var alone = await bus.GetSendEndpoint(new Uri($"exchange:{Queue}"));
                var fleet = await bus.GetSendEndpoint(new Uri($"exchange:{FleetQueue}"));
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
                var nextBurst = DateTimeOffset.UtcNow;
                for (var n = 0; !stoppingToken.IsCancellationRequested;)
                {
                    await traffic.WhilePausedAsync(stoppingToken);
                    if (DateTimeOffset.UtcNow >= nextBurst)
                    {
                        nextBurst = DateTimeOffset.UtcNow + BurstEvery;
                        var sends = new List<Task>(2 * Burst);
                        for (var i = 0; i < Burst; i++, n++)
                        {
                            sends.Add(alone.Send(new SupervisorThumbnail(n), stoppingToken));
                            sends.Add(fleet.Send(new SupervisorFleetThumbnail(n), stoppingToken));
                        }
                        await Task.WhenAll(sends);
                    }
                    await alone.Send(new SupervisorThumbnail(n), stoppingToken);
                    await fleet.Send(new SupervisorFleetThumbnail(n++), stoppingToken);
                    await Task.Delay(500, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
