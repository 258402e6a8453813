using MassTransit.Patterns.Watch;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Watch.Messages
{
    /// <summary>A watched value: a feature flag with a payload.</summary>
    public sealed record FeatureFlag(string Name, bool Enabled, int Revision);
}

namespace MassTransit.Patterns.Tests.Watch
{
    using Messages;

    /// <summary>A watch source and watchers of <see cref="FeatureFlag"/> in one test harness, optionally on a fake clock.</summary>
    sealed class WatchRig : IAsyncDisposable
    {
        readonly ServiceProvider _provider;

        WatchRig(ServiceProvider provider, FakeTimeProvider? time)
        {
            _provider = provider;
            Time = time;
            Harness = provider.GetRequiredService<ITestHarness>();
        }

        public static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

        public ITestHarness Harness { get; }

        public FakeTimeProvider? Time { get; }

        public IServiceProvider Services => _provider;

        public IWatchSource<FeatureFlag> Source => _provider.GetRequiredService<IWatchSource<FeatureFlag>>();

        public IWatcherFactory<FeatureFlag> Watchers => _provider.GetRequiredService<IWatcherFactory<FeatureFlag>>();

        public IWatchStore Store => _provider.GetRequiredService<IWatchStore>();

        public static ServiceCollection Services_(Action<WatchSourceOptions>? source, Action<IServiceCollection>? services, FakeTimeProvider? time)
        {
            var collection = new ServiceCollection();
            if (time is not null)
                collection.AddSingleton<TimeProvider>(time);
            services?.Invoke(collection);
            collection.AddWatcherFactory<FeatureFlag>();
            collection.AddMassTransitTestHarness(x => x.AddWatchSource<FeatureFlag>(o =>
            {
                o.RetryInterval = TimeSpan.Zero;
                source?.Invoke(o);
            }));
            return collection;
        }

        public static async Task<WatchRig> StartAsync(Action<WatchSourceOptions>? source = null, Action<IServiceCollection>? services = null, bool fakeTime = false)
        {
            var time = fakeTime ? new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) : null;
            var provider = Services_(source, services, time).BuildServiceProvider(true);
            var rig = new WatchRig(provider, time);
            await rig.Harness.Start();
            return rig;
        }

        public Task<IWatcher<FeatureFlag>> WatchAsync(Action<WatcherOptions> configure) =>
            Watchers.Watch(configure, new CancellationTokenSource(Wait).Token);

        /// <summary>Sends a notification straight to a watcher's address, as the source would.</summary>
        public async Task NotifyAsync(IWatcher<FeatureFlag> watcher, string key, long version, FeatureFlag value)
        {
            var endpoint = await Harness.Bus.GetSendEndpoint(watcher.Address!);
            await endpoint.Send(new WatchChanged<FeatureFlag>
            {
                WatcherId = watcher.WatcherId,
                Entry = new WatchEntry<FeatureFlag> { Key = key, Version = version, Value = value, ChangedAt = DateTimeOffset.UtcNow }
            });
        }

        public async ValueTask DisposeAsync()
        {
            await Harness.Stop();
            await _provider.DisposeAsync();
        }
    }
}
