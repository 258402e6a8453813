using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Benchmarks.Scenarios;

/// <summary>
/// <c>overhead</c>: the throughput each always-on component costs against the bare MassTransit
/// pipeline, as <c>overhead_pct.NAME</c> (percent of throughput lost; negative is noise in its
/// favour). Variants run alternately in rounds on fresh buses; medians are compared.
/// <para>
/// The console: <c>console_workload</c> is the supervisor variant plus the workflow event (its filter on the endpoint, the
/// processor on an in-memory repository, the store over it), so the console has pages to show, hosted in a web app on
/// Kestrel (127.0.0.1) without the console; <c>dashboard</c> is the same web app that also mounts the console, with one
/// operations page open and refreshing every
/// <c>OperationsRefreshInterval</c>, set to 500 ms: four times the default 2 s, so that every timed run (about a second on
/// a quiet machine) sees refreshes; <c>dashboard_refresh_100ms</c> is the same at the shortest interval the options allow.
/// <c>overhead_pct.dashboard</c> and <c>overhead_pct.dashboard_refresh_100ms</c> are the throughput lost against
/// <c>console_workload</c> (the same workload without the console); the other figures are against <c>bare</c>.
/// <c>overhead_pct_min/max.NAME</c> are the best and worst round against the baseline's median;
/// <c>overhead_pct_paired.dashboard*</c> the median of each round against that round's <c>console_workload</c> run;
/// <c>live_fetch_ms.dashboard*</c> the median time of one fetch of the live part.
/// </para>
/// </summary>
public sealed class OverheadScenario : IBenchScenario
{
    public string Name => "overhead";

    public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var count = context.Transport == BenchContext.RabbitMq ? (context.Quick ? 2_000 : 10_000) : (context.Quick ? 20_000 : 100_000);
        // 15 rounds: single rounds spread by 10-20 % on this machine even when it is quiet; with 9 the median of two runs differed by 8 points.
        var rounds = context.Quick ? 5 : 15;
        const int concurrency = 16;

        // Each always-on component as a service registration and an endpoint configuration.
        Action<IServiceCollection> consoleServices = s =>
        {
            s.AddSingleton<IQueueDepthProbe>(new SupervisorScenario.EmptyQueueProbe());
            s.AddWorkflowMessageStoreOverSagaRepository();
            // The supervisor's registry: its operations page (chart, decisions) is the first in use, the one kept refreshing.
            s.AddConsumerSupervisorRegistry();
        };
        Action<IRegistrationContext, IReceiveEndpointConfigurator> consoleEndpoint = (ctx, cfg) =>
        {
            cfg.UseSupervisor(ctx, o => o.MinConsumers = o.MaxConsumers = concurrency);
            cfg.UseWorkflowEvent(ctx);
        };
        Action<IBusRegistrationConfigurator> consoleBus = x => x.AddWorkflowEventProcessor().InMemoryRepository();
        var variants = new Variant[]
        {
            new("bare", _ => { }, (_, _) => { }),
            new("queue_depth_counting", s => s.AddInMemoryQueueDepthProbe(), (_, _) => { }),
            // The supervisor's gate and loop at a fixed level (min = max = the bare concurrency, a probe that costs nothing): only their cost shows.
            new("supervisor", s => s.AddSingleton<IQueueDepthProbe>(new SupervisorScenario.EmptyQueueProbe()),
                (ctx, cfg) => cfg.UseSupervisor(ctx, o => o.MinConsumers = o.MaxConsumers = concurrency)),
            new("console_workload", consoleServices, consoleEndpoint, consoleBus, Hosted: true),
            new("dashboard", consoleServices, consoleEndpoint, consoleBus, true, DashboardRefresh),
            new("dashboard_refresh_100ms", consoleServices, consoleEndpoint, consoleBus, true, TimeSpan.FromMilliseconds(100))
        };
        if (context.Transport == BenchContext.RabbitMq)
            variants = variants.Where(v => v.Name != "queue_depth_counting").ToArray();

        var samples = variants.ToDictionary(v => v.Name, _ => new List<double>());
        var refreshes = variants.ToDictionary(v => v.Name, _ => new List<double>());
        var liveMs = variants.ToDictionary(v => v.Name, _ => new List<double>());
        string? page = null;
        // Warm-up: every variant's code paths are jitted and tiered before anything is timed.
        for (var warm = 0; warm < 2; warm++)
            foreach (var variant in variants)
                await MeasureAsync(variant, Math.Min(count, 10_000));
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var variant in variants)
            {
                var (rate, refreshed, live) = await MeasureAsync(variant, count);
                samples[variant.Name].Add(rate);
                refreshes[variant.Name].Add(refreshed);
                if (!double.IsNaN(live))
                    liveMs[variant.Name].Add(live);
                context.Progress($"round {round}/{rounds} {variant.Name}: {rate:N0} msg/s"
                                 + (variant.Refresh is null ? "" : $" ({refreshed:N1} refreshes/s of {page}, {live:N1} ms per fetch)"));
            }
        }

        var bare = Throughput.Median(samples["bare"]);
        var console = Throughput.Median(samples["console_workload"]);
        var result = new BenchResult(Name, context.Transport)
            .Parameter("messages", count)
            .Parameter("rounds", rounds)
            .Parameter("concurrency", concurrency)
            .Parameter("dashboard_page", page ?? "")
            .Parameter("dashboard_refresh_ms", DashboardRefresh.TotalMilliseconds)
            .Metric("bare_msg_per_s", bare);
        foreach (var variant in variants.Where(v => v.Name != "bare"))
        {
            var rates = samples[variant.Name];
            var median = Throughput.Median(rates);
            var baseline = variant.Refresh is null ? bare : console;
            result.Metric($"msg_per_s.{variant.Name}", median);
            result.Metric($"overhead_pct.{variant.Name}", (1 - median / baseline) * 100);
            // The spread of the rounds, each against the baseline's median: how much one round says.
            result.Metric($"overhead_pct_min.{variant.Name}", (1 - rates.Max() / baseline) * 100);
            result.Metric($"overhead_pct_max.{variant.Name}", (1 - rates.Min() / baseline) * 100);
            if (variant.Refresh is not null)
            {
                // Paired: each round's run against the console_workload run just before it in the same round (the machine's
                // load changes slowly), the median of those; steadier than medians against medians on a shared machine.
                var paired = rates.Zip(samples["console_workload"], (with, without) => (1 - with / without) * 100);
                result.Metric($"overhead_pct_paired.{variant.Name}", Throughput.Median(paired));
                result.Metric($"refreshes_per_s.{variant.Name}", Throughput.Median(refreshes[variant.Name]));
                result.Metric($"live_fetch_ms.{variant.Name}", Throughput.Median(liveMs[variant.Name]));
            }
        }
        return result;

        async Task<(double Rate, double RefreshesPerSecond, double LiveMs)> MeasureAsync(Variant variant, int messages)
        {
            if (!variant.Hosted)
                return (await Throughput.MeasureAsync(context, messages, concurrency, variant.Services, variant.Endpoint, cancellationToken, variant.Bus), 0, double.NaN);
            var run = await Throughput.MeasureWithDashboardAsync(context, messages, concurrency, variant.Services, variant.Endpoint, variant.Refresh,
                cancellationToken, variant.Bus);
            if (variant.Refresh is not null)
                page = run.Page;
            return (run.Rate, run.Refreshes / (messages / run.Rate), run.LiveMs);
        }
    }

    /// <summary>
    /// The page's refresh in the dashboard variant: a quarter of the console's default <c>OperationsRefreshInterval</c> (2 s),
    /// so a run of about a second still sees refreshes.
    /// </summary>
    static readonly TimeSpan DashboardRefresh = new MassTransit.Patterns.Dashboard.PatternsDashboardOptions().OperationsRefreshInterval / 4;

    /// <summary>
    /// A configuration measured: its services, endpoint and bus registrations; <see cref="Hosted"/>, in a web app on Kestrel;
    /// with <see cref="Refresh"/>, the console mounted there and one page refreshing at that interval.
    /// </summary>
    sealed record Variant(string Name, Action<IServiceCollection> Services, Action<IRegistrationContext, IReceiveEndpointConfigurator> Endpoint,
        Action<IBusRegistrationConfigurator>? Bus = null, bool Hosted = false, TimeSpan? Refresh = null);
}
