using System.Collections.Concurrent;
using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Watch;

/// <summary>Validates the source's options before the bus starts, runs its sweep and the hosted watchers with the bus.</summary>
sealed class WatchBusObserver<TValue>(IServiceProvider provider) : IBusObserver
{
    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus)
    {
        provider.GetService<WatchSourceSettings<TValue>>()?.Options.EnsureValid(nameof(WatchSourceOptions));
        foreach (var settings in provider.GetServices<HostedWatcherSettings<TValue>>())
            settings.Options.EnsureValid(nameof(WatcherOptions));
        return Task.CompletedTask;
    }

    public Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        if (provider.GetService<WatchSourceSettings<TValue>>() is not null)
        {
            var source = (WatchSource<TValue>)provider.GetRequiredService<IWatchSource<TValue>>();
            source.StartSweep();
            if (bus.Address.Scheme.StartsWith("rabbitmq", StringComparison.OrdinalIgnoreCase) && provider.GetService<IWatchDeliveryTransport>() is null)
                source.WarnNoDeliveryTransport();
        }
        if (provider.GetServices<HostedWatcherSettings<TValue>>().Any())
            _ = StartWatchersAsync(busReady);
        return Task.CompletedTask;
    }

    async Task StartWatchersAsync(Task<BusReady> busReady)
    {
        try
        {
            await busReady.ConfigureAwait(false);
        }
        catch
        {
            return;
        }
        var hub = provider.GetRequiredService<WatcherHub<TValue>>();
        foreach (var watcher in provider.GetServices<IWatcher<TValue>>())
            hub.Start((Watcher<TValue>)watcher);
    }

    public Task StartFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    public async Task PreStop(IBus bus)
    {
        if (provider.GetService<WatcherHub<TValue>>() is { } hub)
            await hub.StopAllAsync().ConfigureAwait(false);
        if (provider.GetService<WatchSourceSettings<TValue>>() is not null)
            await ((WatchSource<TValue>)provider.GetRequiredService<IWatchSource<TValue>>()).StopSweepAsync().ConfigureAwait(false);
    }

    public Task PostStop(IBus bus)
    {
        provider.GetService<WatcherHub<TValue>>()?.Reset();
        return Task.CompletedTask;
    }

    public Task StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;
}
