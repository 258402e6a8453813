using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>The one queue depth probe the workloads share: registered by the first workload that needs it (the in-memory probe observes the bus, so twice would count twice).</summary>
static class QueueDepthServices
{
    public static void AddProbe(IServiceCollection services, ShowcaseContext context)
    {
        if (services.Any(d => d.ServiceType == typeof(IQueueDepthProbe)))
            return;
        if (context.Options.Transport == ShowcaseOptions.RabbitMq)
            services.AddRabbitMqQueueDepthProbe(o =>
            {
                o.HostName = ServiceEnvironment.RabbitHost;
                o.Port = ServiceEnvironment.RabbitAmqpPort;
                o.UserName = ServiceEnvironment.RabbitUser;
                o.Password = ServiceEnvironment.RabbitPassword;
            });
        else
            services.AddInMemoryQueueDepthProbe();
    }
}
