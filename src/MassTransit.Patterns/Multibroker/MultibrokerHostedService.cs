using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Multibroker;

/// <summary>Starts every broker's bus with the host (waiting for <see cref="MultibrokerOptions.MinimumBrokersAtStart"/>) and stops them with it.</summary>
sealed class MultibrokerHostedService(MultibrokerRuntime runtime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => runtime.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => runtime.StopAsync(cancellationToken);
}
