using MassTransit;
using MassTransit.Patterns.Watch;   // IWatchSource<T>, IWatcher<T>, IWatcherFactory<T>
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class WatchSnippets
{
    public static async Task Owner(IServiceCollection services, string cs, IServiceProvider provider)
    {
        // begin-snippet: watch-turn-it-on-owner
        // the owner of the values
        services.AddDbContext<AppDb>(o => o.UseNpgsql(cs));      // AppDb.OnModelCreating: modelBuilder.AddWatchEntities();
        services.AddEntityFrameworkWatchStore<AppDb>();          // default: in memory (versions restart with the process)
        services.AddRabbitMqWatchDelivery();                     // RabbitMQ: a dead watcher is pruned at the first change
        services.AddMassTransit(x =>
        {
            x.AddWatchSource<FeatureFlag>(o => o.AllowedPrefixes.Add("flags/"));
            x.UsingRabbitMq((context, cfg) => cfg.ConfigureEndpoints(context));
        });

        var watchSource = provider.GetRequiredService<IWatchSource<FeatureFlag>>();
        await watchSource.Set("flags/checkout", new FeatureFlag(true));          // stores version n+1, fans out
        // end-snippet
    }

    public static async Task Watcher(IServiceCollection services, IServiceProvider provider)
    {
        // begin-snippet: watch-turn-it-on-watcher
        // a watcher (another service): starts with the bus
        services.AddWatcher<FeatureFlag>(o => o.Prefixes.Add("flags/"));

        var watcher = provider.GetRequiredService<IWatcher<FeatureFlag>>();
        if (watcher.TryGetValue("flags/checkout", out var flag))
            Apply(flag.Value, flag.Version);
        watcher.Changed += (_, e) => Apply(e.Value, e.Version);

        // or at run time, several per process
        var factory = provider.GetRequiredService<IWatcherFactory<FeatureFlag>>();
        await using var checkout = await factory.Watch(o => o.Keys.Add("flags/checkout"));
        // end-snippet
    }

    private static void Apply(FeatureFlag? value, long version)
    {
    }

    public static void Readme(IServiceCollection services)
    {
        // begin-snippet: readme-watch
        services.AddMassTransit(x => x.AddWatchSource<FeatureFlag>());    // the owner: IWatchSource<FeatureFlag>.Set(key, value)
        services.AddWatcher<FeatureFlag>(o => o.Prefixes.Add("flags/"));  // a follower: IWatcher<FeatureFlag>, current value + every change
        // end-snippet
    }
}
