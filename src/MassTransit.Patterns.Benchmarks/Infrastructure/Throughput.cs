using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using MassTransit.Patterns.Benchmarks.Messages;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>
/// Measures consume throughput of one bus configuration: sends <c>count</c> messages to a fresh
/// queue and times until the last is consumed. Variants to compare run alternately, several rounds,
/// and the median of each is kept, so machine noise hits both sides alike.
/// </summary>
public static class Throughput
{
    public static async Task<double> MeasureAsync(BenchContext context, int count, int concurrency,
        Action<IServiceCollection> services, Action<IRegistrationContext, IReceiveEndpointConfigurator> endpoint,
        CancellationToken cancellationToken, Action<IBusRegistrationConfigurator>? bus = null)
    {
        var queue = $"bench-{Guid.NewGuid():N}"[..22];
        var counter = new CompletionCounter(count);
        var collection = new ServiceCollection();
        AddBench(collection, context, queue, concurrency, counter, services, endpoint, bus);
        await using var provider = collection.BuildServiceProvider();
        var control = provider.GetRequiredService<IBusControl>();
        await control.StartAsync(cancellationToken);
        try
        {
            return await SendAndTimeAsync(control, queue, count, counter, cancellationToken);
        }
        finally
        {
            await control.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// The same measurement with the bus in a web app that mounts the patterns console (<c>MapPatternsDashboard</c> at
    /// <see cref="DashboardPrefix"/>) on Kestrel at 127.0.0.1 (a free port), while one operations page is open and refreshing:
    /// an HttpClient fetches the page once, then its live part <c>{prefix}/ops/{slug}/live</c> every
    /// <paramref name="refreshInterval"/> (the <c>OperationsRefreshInterval</c>), as the page's script does. The page is the
    /// first of the operations pages the app uses (<c>{prefix}/api/ops</c>, navigation order). Without
    /// <paramref name="refreshInterval"/>, the same web app on Kestrel without the console: the baseline that differs from it
    /// by the console alone.
    /// </summary>
    public static async Task<DashboardRun> MeasureWithDashboardAsync(BenchContext context, int count, int concurrency,
        Action<IServiceCollection> services, Action<IRegistrationContext, IReceiveEndpointConfigurator> endpoint,
        TimeSpan? refreshInterval, CancellationToken cancellationToken, Action<IBusRegistrationConfigurator>? bus = null)
    {
        var queue = $"bench-{Guid.NewGuid():N}"[..22];
        var counter = new CompletionCounter(count);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        AddBench(builder.Services, context, queue, concurrency, counter, services, endpoint, bus);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        if (refreshInterval is { } interval)
            builder.Services.AddPatternsDashboard(o =>
            {
                o.OperationsRefreshInterval = interval;
                o.ActorWhenAnonymous = "bench";
            });
        await using var app = builder.Build();
        if (refreshInterval is not null)
            app.MapPatternsDashboard(DashboardPrefix);
        await app.StartAsync(cancellationToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<List<double>>? refreshing = null;
        try
        {
            if (refreshInterval is not { } every)
                return new DashboardRun(await SendAndTimeAsync(app.Services.GetRequiredService<IBus>(), queue, count, counter, cancellationToken), "", 0, double.NaN);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            var pages = await http.GetFromJsonAsync<PageLink[]>(DashboardPrefix + "/api/ops", cancellationToken) ?? [];
            var slug = pages.Length > 0 ? pages[0].Slug : throw new InvalidOperationException("The workload uses no pattern with an operations page.");
            (await http.GetAsync($"{DashboardPrefix}/ops/{slug}", cancellationToken)).EnsureSuccessStatusCode();
            refreshing = RefreshAsync(http, $"{DashboardPrefix}/ops/{slug}/live", every, stop.Token);
            var rate = await SendAndTimeAsync(app.Services.GetRequiredService<IBus>(), queue, count, counter, cancellationToken);
            await stop.CancelAsync();
            var fetches = await refreshing;
            return new DashboardRun(rate, slug, fetches.Count, fetches.Count == 0 ? double.NaN : Median(fetches));
        }
        finally
        {
            await stop.CancelAsync();
            if (refreshing is not null)
                await refreshing.ContinueWith(_ => { }, TaskScheduler.Default);
            await app.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>The console's path in the dashboard variant.</summary>
    public const string DashboardPrefix = "/patterns";

    /// <summary>
    /// One run with the console mounted: the rate, the page that was open, how often its live part was fetched, and the median
    /// time of one fetch (request to last byte on loopback: the server's render and whatever waiting the machine adds).
    /// </summary>
    public sealed record DashboardRun(double Rate, string Page, int Refreshes, double LiveMs);

    sealed record PageLink(string Slug, string Title);

    /// <summary>The page's script: every interval, the live part is fetched and read whole (a failed fetch fails the run).</summary>
    static async Task<List<double>> RefreshAsync(HttpClient http, string live, TimeSpan interval, CancellationToken cancellationToken)
    {
        var fetches = new List<double>();
        using var timer = new PeriodicTimer(interval);
        try
        {
            do
            {
                var started = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync(live, cancellationToken);
                response.EnsureSuccessStatusCode();
                _ = await response.Content.ReadAsStringAsync(cancellationToken);
                fetches.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        return fetches;
    }

    static void AddBench(IServiceCollection collection, BenchContext context, string queue, int concurrency, CompletionCounter counter,
        Action<IServiceCollection> services, Action<IRegistrationContext, IReceiveEndpointConfigurator> endpoint, Action<IBusRegistrationConfigurator>? bus)
    {
        collection.AddMetrics()
            .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .AddSingleton(counter);
        services(collection);
        collection.AddMassTransit(x =>
        {
            x.AddConsumer<CountingConsumer>().Endpoint(e =>
            {
                e.Name = queue;
                e.ConcurrentMessageLimit = concurrency;
                e.PrefetchCount = concurrency * 2;
            });
            x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
            {
                if (name == queue)
                    endpoint(ctx, cfg);
            });
            bus?.Invoke(x);
            context.UseTransport(x);
        });
    }

    static async Task<double> SendAndTimeAsync(IBus bus, string queue, int count, CompletionCounter counter, CancellationToken cancellationToken)
    {
        var send = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
        var watch = Stopwatch.StartNew();
        await Batches.SendAsync(count, i => send.Send(new BenchMessage(i), cancellationToken));
        await counter.Completed.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
        return count / watch.Elapsed.TotalSeconds;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public sealed class CompletionCounter(int target)
    {
        int _count;
        readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Completed => _done.Task;

        public void Increment()
        {
            if (Interlocked.Increment(ref _count) == target)
                _done.TrySetResult();
        }
    }

    sealed class CountingConsumer(CompletionCounter counter) : IConsumer<BenchMessage>
    {
        public Task Consume(ConsumeContext<BenchMessage> context)
        {
            counter.Increment();
            return Task.CompletedTask;
        }
    }
}
