using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Supervisor;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Benchmarks.Scenarios;

/// <summary>
/// <c>overhead</c>: the throughput each always-on component costs against the bare MassTransit
/// pipeline, as <c>overhead_pct.NAME</c> (percent of throughput lost; negative is noise in its
/// favour). Variants run alternately in rounds on fresh buses; medians are compared.
/// </summary>
public sealed class OverheadScenario : IBenchScenario
{
    public string Name => "overhead";

    public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var count = context.Transport == BenchContext.RabbitMq ? (context.Quick ? 2_000 : 10_000) : (context.Quick ? 20_000 : 100_000);
        var rounds = context.Quick ? 5 : 9;
        const int concurrency = 16;

        // Each always-on component as a service registration and an endpoint configuration.
        var variants = new (string Name, Action<Microsoft.Extensions.DependencyInjection.IServiceCollection> Services, Action<IRegistrationContext, IReceiveEndpointConfigurator> Endpoint)[]
        {
            ("bare", _ => { }, (_, _) => { }),
            ("queue_depth_counting", s => s.AddInMemoryQueueDepthProbe(), (_, _) => { }),
            // The supervisor's gate and loop at a fixed level (min = max = the bare concurrency, a probe that costs nothing): only their cost shows.
            ("supervisor", s => s.AddSingleton<IQueueDepthProbe>(new SupervisorScenario.EmptyQueueProbe()),
                (ctx, cfg) => cfg.UseSupervisor(ctx, o => o.MinConsumers = o.MaxConsumers = concurrency))
        };
        if (context.Transport == BenchContext.RabbitMq)
            variants = variants.Where(v => v.Name != "queue_depth_counting").ToArray();

        var samples = variants.ToDictionary(v => v.Name, _ => new List<double>());
        // Warm-up: every variant's code paths are jitted and tiered before anything is timed.
        for (var warm = 0; warm < 2; warm++)
            foreach (var variant in variants)
                await Throughput.MeasureAsync(context, Math.Min(count, 10_000), concurrency, variant.Services, variant.Endpoint, cancellationToken);
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var variant in variants)
            {
                var rate = await Throughput.MeasureAsync(context, count, concurrency, variant.Services, variant.Endpoint, cancellationToken);
                samples[variant.Name].Add(rate);
                context.Progress($"round {round}/{rounds} {variant.Name}: {rate:N0} msg/s");
            }
        }

        var bare = Throughput.Median(samples["bare"]);
        var result = new BenchResult(Name, context.Transport)
            .Parameter("messages", count)
            .Parameter("rounds", rounds)
            .Parameter("concurrency", concurrency)
            .Metric("bare_msg_per_s", bare);
        foreach (var (name, rates) in samples.Where(s => s.Key != "bare"))
        {
            var median = Throughput.Median(rates);
            result.Metric($"msg_per_s.{name}", median);
            result.Metric($"overhead_pct.{name}", (1 - median / bare) * 100);
        }
        return result;
    }
}
