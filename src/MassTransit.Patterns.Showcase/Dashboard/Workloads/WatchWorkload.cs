using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>A runtime setting: the watched value.</summary>
public sealed record RuntimeSetting(string Value, int Revision);

/// <summary>
/// Watch: a settings service owns six runtime settings (in-memory store) and changes one every 300 ms; five watchers follow
/// them (two by the prefix <c>pricing/</c>, two on <c>flags/checkout</c>, one on <c>limits/api</c>), and every 10 s a
/// watcher of <c>flags/search</c> starts and crashes (stops without cancelling), so its lease ends and the sweep prunes it.
/// </summary>
public sealed class WatchWorkload : IDashboardWorkload
{
    public const string SourceName = "showcase-watch-settings";
    public const string Endpoint = "showcase-watch-source";
    public static readonly string[] Keys = ["pricing/eu", "pricing/us", "flags/checkout", "flags/search", "limits/api", "limits/batch"];

    public string Name => "watch";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        services.AddWatcherFactory<RuntimeSetting>();
        services.AddHostedService<SettingsTraffic>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context) =>
        x.AddWatchSource<RuntimeSetting>(o =>
        {
            o.Name = SourceName;
            o.EndpointName = Endpoint;
            o.LeaseDuration = TimeSpan.FromSeconds(4);
            o.SweepInterval = TimeSpan.FromSeconds(1);
        });

    sealed class SettingsTraffic(IWatchSource<RuntimeSetting> source, IWatcherFactory<RuntimeSetting> watchers) : BackgroundService
    {
        // Kept for the app's life; the watcher factory stops them when the bus stops.
        readonly List<IWatcher<RuntimeSetting>> _steady = [];

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var random = new Random(29);
            var revision = 0;
            try
            {
                foreach (var key in Keys)
                    await source.Set(key, new RuntimeSetting("initial", ++revision), stoppingToken);
                _steady.Add(await WatchAsync(o => o.Prefixes.Add("pricing/"), stoppingToken));
                _steady.Add(await WatchAsync(o => o.Prefixes.Add("pricing/"), stoppingToken));
                _steady.Add(await WatchAsync(o => o.Keys.Add("flags/checkout"), stoppingToken));
                _steady.Add(await WatchAsync(o => o.Keys.Add("flags/checkout"), stoppingToken));
                _steady.Add(await WatchAsync(o => o.Keys.Add("limits/api"), stoppingToken));
                IWatcher<RuntimeSetting>? crashing = null;
                for (var tick = 0; !stoppingToken.IsCancellationRequested; tick++)
                {
                    if (tick % 33 == 0)
                        crashing = await WatchAsync(o =>
                        {
                            o.Keys.Add("flags/search");
                            o.UnregisterOnStop = false; // a crash: the registration stays until its lease ends
                        }, stoppingToken);
                    else if (tick % 33 == 7 && crashing is not null)
                    {
                        await crashing.DisposeAsync();
                        crashing = null;
                    }
                    var key = Keys[random.Next(Keys.Length)];
                    await source.Set(key, new RuntimeSetting(random.Next(100, 999).ToString(System.Globalization.CultureInfo.InvariantCulture), ++revision), stoppingToken);
                    await Task.Delay(300, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }

        /// <summary>Starts a watcher once the bus can carry its registration (retrying until then).</summary>
        async Task<IWatcher<RuntimeSetting>> WatchAsync(Action<WatcherOptions> configure, CancellationToken stoppingToken)
        {
            while (true)
            {
                try
                {
                    return await watchers.Watch(o =>
                    {
                        o.RenewInterval = TimeSpan.FromSeconds(1);
                        o.RegistrationTimeout = TimeSpan.FromSeconds(5);
                        configure(o);
                    }, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    await Task.Delay(500, stoppingToken);
                }
            }
        }
    }
}
