using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>A tenant's export request; some come without a tenant.</summary>
public record TenantExport(string? TenantId, int Number);

/// <summary>
/// Contextual queues: eight tenants sending exports in turns (each one active for a while, then quiet), a queue per
/// tenant created on first sight (cap 4, the others spread over 2 buckets), one tenant in bursts, a few exports without a
/// tenant (default queue); a tenant quiet for <see cref="IdleTimeout"/> has its queue retired and gets a new one when it
/// sends again.
/// </summary>
public sealed class ContextualWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-contextual-exports";
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(6);
    public static readonly string[] Tenants = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell"];

    public string Name => "contextual";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        services.AddContextualQueues<TenantExport>();
        services.AddHostedService<ExportProducer>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context) =>
        x.AddConsumer<ExportConsumer>().ExcludeFromConfigureEndpoints();

    public void ConfigureBus(IBusRegistrationContext context, IBusFactoryConfigurator cfg)
    {
        void Configure(ContextualQueueConfigurator<TenantExport> q)
        {
            q.DefaultQueue(Queue).Context(m => m.TenantId).Endpoint(e => e.ConfigureConsumer<ExportConsumer>(context));
            q.Options.MaxContextQueues = 4;
            q.Options.BucketCount = 2;
            q.Options.ConcurrentMessageLimit = 2;
            q.Options.DefaultConcurrentMessageLimit = 2;
            q.Options.IdleTimeout = IdleTimeout;
            q.Options.IdleCheckInterval = TimeSpan.FromSeconds(1);
        }

        ShowcaseContext.UseContextualQueues<TenantExport>(context, cfg, Configure);
    }

    sealed class ExportConsumer : IConsumer<TenantExport>
    {
        public Task Consume(ConsumeContext<TenantExport> context) => Task.Delay(15, context.CancellationToken); // rendering the export
    }

    /// <summary>Every 200 ms: the active tenants send an export or two (acme in bursts of up to 10); each tenant is quiet one phase (10 s) in three, in turn.</summary>
    sealed class ExportProducer(IBus bus, ContextualRouting<TenantExport> routing) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var random = new Random(23);
            var n = 0;
            try
            {
                while (!routing.IsConfigured)
                    await Task.Delay(50, stoppingToken);
                var endpoint = await bus.GetSendEndpoint(routing.RouterAddress);
                for (var tick = 0; !stoppingToken.IsCancellationRequested; tick++)
                {
                    var phase = tick / 50;
                    for (var t = 0; t < Tenants.Length; t++)
                    {
                        if ((phase + t) % 3 == 0)
                            continue; // this tenant's quiet phase: its queue goes idle and retires
                        var count = t == 0 ? (tick % 25 < 5 ? random.Next(4, 11) : 1) : random.Next(0, 2);
                        for (var i = 0; i < count; i++)
                            await endpoint.Send(new TenantExport(Tenants[t], ++n), stoppingToken);
                    }
                    if (tick % 10 == 0)
                        await endpoint.Send(new TenantExport(null, ++n), stoppingToken);
                    await Task.Delay(200, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
