using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Tests.Watch;

/// <summary>An app with a watch source and watchers disposed without being stopped first (MassTransit's hosted service then stops the bus while the container is being disposed).</summary>
public sealed class WatchHostDisposalTests
{
    public sealed record Flag(bool On);

    [Fact(Timeout = 60_000)]
    public async Task A_host_disposed_without_stopping_stops_the_watch_source_cleanly()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddWatcherFactory<Flag>();
        builder.Services.AddMassTransit(x =>
        {
            x.AddWatchSource<Flag>(o => o.Name = "dispose-flags");
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        var host = builder.Build();
        await host.StartAsync();
        var source = host.Services.GetRequiredService<IWatchSource<Flag>>();
        await source.Set("a", new Flag(true));
        await using (await host.Services.GetRequiredService<IWatcherFactory<Flag>>().Watch(o => o.Keys.Add("a")))
        {
        }

        // No StopAsync: disposal stops the bus, and the watch's observer must not resolve from the disposed container.
        await ((IAsyncDisposable)host).DisposeAsync();
    }
}
