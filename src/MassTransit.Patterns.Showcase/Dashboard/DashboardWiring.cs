using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Showcase.Dashboard;

/// <summary>The two lines that mount the repair console (MassTransit.Patterns.Dashboard).</summary>
public static class DashboardWiring
{
    public static void AddServices(IServiceCollection services, Uri processorAddress)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(processorAddress);
    }

    public static void MapEndpoints(WebApplication app, string prefix)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
    }
}
