using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.ControlFlow;

/// <summary>Runs the singleton <see cref="FlowMonitor"/> with the host.</summary>
sealed class FlowMonitorHost(FlowMonitor monitor) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => monitor.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => monitor.StopAsync(cancellationToken);
}
