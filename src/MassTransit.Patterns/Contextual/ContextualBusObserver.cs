using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Contextual;

/// <summary>Starts the registry (static contexts, idle retirement) when the bus has started; stops it with the bus.</summary>
sealed class ContextualBusObserver(ContextualRouting routing, ILogger logger) : IBusObserver
{
    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus) => Task.CompletedTask;

    public Task PostStart(IBus bus, Task<BusReady> busReady) => routing.StartAsync(bus, logger);

    public Task StartFaulted(IBus bus, Exception exception) => routing.StopAsync();

    public Task PreStop(IBus bus) => routing.StopAsync();

    public Task PostStop(IBus bus)
    {
        routing.Metrics.Untrack(routing);
        return Task.CompletedTask;
    }

    public Task StopFaulted(IBus bus, Exception exception) => routing.StopAsync();
}
