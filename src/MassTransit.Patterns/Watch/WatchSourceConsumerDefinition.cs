using System.Text.Json;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Watch;

/// <summary>The source's endpoint: its name, and retries for a store conflict (two registrations of one watcher at once).</summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed class WatchSourceConsumerDefinition<TValue> : ConsumerDefinition<WatchSourceConsumer<TValue>>
{
    /// <summary>Created by the container.</summary>
    public WatchSourceConsumerDefinition(IWatchSource<TValue> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var options = ((WatchSource<TValue>)source).Options;
        EndpointName = options.EndpointName!;
    }

    /// <inheritdoc />
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<WatchSourceConsumer<TValue>> consumerConfigurator,
        IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        endpointConfigurator.UseMessageRetry(r => r.Intervals(10, 50, 100, 250, 500));
    }
}
