using MassTransit.Patterns.Showcase.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Showcase.Dashboard;

/// <summary>
/// One pattern's part of the <c>--dashboard</c> showcase: what it registers, how it configures the bus and its endpoints,
/// and the traffic it keeps running (a hosted service it registers), so that its operations page shows it live.
/// </summary>
public interface IDashboardWorkload
{
    /// <summary>A short name (the pattern's operations page slug).</summary>
    string Name { get; }

    /// <summary>Registers the workload's services (hosted producers, stores, controls).</summary>
    void AddServices(IServiceCollection services, ShowcaseContext context);

    /// <summary>Registers consumers, sagas and endpoints in <c>AddMassTransit</c>.</summary>
    void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context);

    /// <summary>Configures the bus (transport-level middleware) before its endpoints are configured.</summary>
    void ConfigureBus(IBusRegistrationContext context, IBusFactoryConfigurator cfg)
    {
    }

    /// <summary>Configures each endpoint as it is configured (endpoint middleware by queue name).</summary>
    void ConfigureEndpoint(IRegistrationContext context, string queueName, IReceiveEndpointConfigurator cfg)
    {
    }

    /// <summary>Prepares storage after the app is built (creates tables).</summary>
    Task PrepareAsync(IServiceProvider services, CancellationToken cancellationToken) => Task.CompletedTask;
}
