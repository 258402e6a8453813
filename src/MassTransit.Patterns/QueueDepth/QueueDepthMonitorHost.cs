using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.QueueDepth;

/// <summary>Runs the singleton <see cref="QueueDepthMonitor"/> with the host, registered once however often it is added.</summary>
sealed class QueueDepthMonitorHost(QueueDepthMonitor monitor) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => monitor.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => monitor.StopAsync(cancellationToken);
}
