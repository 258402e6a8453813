using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class QueueDepthSnippets
{
    public static void TurnItOn(IServiceCollection services)
    {
        // begin-snippet: queue-depth-turn-it-on
        services.AddRabbitMqManagementQueueDepthProbe(o => o.BaseAddress = new Uri("http://localhost:15672/"));
        services.AddQueueDepthMonitor(o => { o.Queues.Add("orders"); o.PollInterval = TimeSpan.FromSeconds(1); });
        // end-snippet
    }
}
