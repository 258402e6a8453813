using System.Collections.Concurrent;
using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Watch;

/// <summary>Validates the source's options before the bus starts, runs its sweep and the hosted watchers with the bus.</summary>
sealed class WatchBusObserver<TValue>(IServiceProvider provider) : IBusObserver
{
    // Resolved while the bus starts: the bus can be stopped again while the container is being disposed
    // (MassTransit's hosted service stops it from DisposeAsync), when the provider can no longer resolve anything.
    WatcherHub<TValue>? _hub;
    WatchSource<TValue>? _source;

    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus)
    {
        _hub = provider.GetService<WatcherHub<TValue>>();
        provider.GetService<WatchSourceSettings<TValue>>()?.Options.EnsureValid(nameof(WatchSourceOptions));
        foreach (var settings in provider.GetServices<HostedWatcherSettings<TValue>>())
            settings.Options.EnsureValid(nameof(WatcherOptions));
        return Task.CompletedTask;
    }

    public Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        if (provider.GetService<WatchSourceSettings<TValue>>() is not null)
        {
            var source = _source = (WatchSource<TValue>)provider.GetRequiredService<IWatchSource<TValue>>();
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
        if (_hub is { } hub)
            await hub.StopAllAsync().ConfigureAwait(false);
        if (_source is { } source)
            await source.StopSweepAsync().ConfigureAwait(false);
    }

    public Task PostStop(IBus bus)
    {
        _hub?.Reset();
        return Task.CompletedTask;
    }

    public Task StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;
}
