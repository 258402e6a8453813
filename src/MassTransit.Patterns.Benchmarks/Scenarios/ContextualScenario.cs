using HdrHistogram;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Benchmarks.Scenarios;

/// <summary>
/// Contextual queues: tenant A sends a burst of slow messages while tenants B and C send steadily. The quiet
/// tenants' end-to-end latency (send to consume end, HdrHistogram) p99 is measured with a queue per tenant
/// (static contexts, concurrency <see cref="PerContext"/> each) and with all three in one shared queue of the same
/// total concurrency. <c>isolation_ratio</c> = shared p99 / contextual p99.
/// </summary>
public sealed class ContextualScenario : IBenchScenario
{
    static readonly TimeSpan Work = TimeSpan.FromMilliseconds(20);
    const int PerContext = 2;

    public string Name => "contextual";

    public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

    public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var burst = context.Quick ? 1_000 : 2_000;
        var quiet = context.Quick ? 25 : 50;

        var (idle, contextual) = await RunOnceAsync(context, contextualQueues: true, burst, quiet);
        context.Progress($"contextual: quiet p99 idle {idle:0.0} ms, during the burst {contextual:0.0} ms");
        var (_, shared) = await RunOnceAsync(context, contextualQueues: false, burst, quiet);
        context.Progress($"single queue: quiet p99 during the burst {shared:0.0} ms");

        return new BenchResult(Name, context.Transport)
            .Parameter("burst_messages", burst)
            .Parameter("quiet_messages_per_tenant", quiet)
            .Parameter("work_ms", Work.TotalMilliseconds)
            .Parameter("concurrency_per_context", PerContext)
            .Parameter("single_queue_concurrency", 3 * PerContext)
            .Metric("quiet_p99_ms", contextual)
            .Metric("quiet_p99_ms_single_queue", shared)
            .Metric("quiet_p99_ms_idle", idle)
            .Metric("isolation_ratio", shared / Math.Max(contextual, 0.001));
    }

    sealed class Log
    {
        public LongConcurrentHistogram Quiet = New();
        public long QuietDone;

        public static LongConcurrentHistogram New() => new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
    }

    public sealed record TenantWork(string Tenant, long Number);

    sealed class WorkConsumer(Log log) : IConsumer<TenantWork>
    {
        public async Task Consume(ConsumeContext<TenantWork> context)
        {
            await Task.Delay(Work, context.CancellationToken);
            if (context.Message.Tenant == "A")
                return;
            var latency = DateTime.UtcNow - (context.SentTime ?? DateTime.UtcNow);
            log.Quiet.RecordValue(Math.Max(1, (long)latency.TotalMicroseconds));
            Interlocked.Increment(ref log.QuietDone);
        }
    }

    async Task<(double IdleP99, double BurstP99)> RunOnceAsync(BenchContext context, bool contextualQueues, int burst, int quiet)
    {
        var queue = $"bench-ctx-{(contextualQueues ? "q" : "shared")}-{Guid.NewGuid():N}"[..28];
        var log = new Log();
        var services = new ServiceCollection().AddMetrics().AddSingleton(log);
        services.AddMassTransit(x =>
        {
            if (contextualQueues)
                x.AddContextualQueues<TenantWork>();
            if (contextualQueues)
                x.AddConsumer<WorkConsumer>().ExcludeFromConfigureEndpoints();
            else
                x.AddConsumer<WorkConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = 3 * PerContext;
                    e.PrefetchCount = 3 * PerContext;
                });
            context.UseTransport(x, (registration, cfg) =>
            {
                if (!contextualQueues)
                    return;
                void Configure(ContextualQueueConfigurator<TenantWork> q)
                {
                    q.DefaultQueue(queue).Context(m => m.Tenant).Static("A", "B", "C")
                        .Endpoint(e => e.ConfigureConsumer<WorkConsumer>(registration));
                    q.Options.ConcurrentMessageLimit = PerContext;
                    q.Options.DefaultConcurrentMessageLimit = PerContext;
                }
                switch (cfg)
                {
                    case IRabbitMqBusFactoryConfigurator rabbit:
                        rabbit.UseContextualQueues<TenantWork>(registration, Broker(), Configure);
                        break;
                    case IInMemoryBusFactoryConfigurator memory:
                        memory.UseContextualQueues<TenantWork>(registration, Configure);
                        break;
                    default:
                        throw new InvalidOperationException("unknown transport");
                }
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync();
        var routing = contextualQueues ? provider.GetRequiredService<ContextualRouting<TenantWork>>() : null;
        try
        {
            if (routing is not null)
                await WaitUntil(() => routing.ActiveContexts == 3, TimeSpan.FromSeconds(30), "static context queues active");
            var endpoint = await bus.GetSendEndpoint(routing?.RouterAddress ?? new Uri($"exchange:{queue}"));

            // Warm-up, then the quiet tenants alone (idle latency).
            await SendQuietAsync(endpoint, log, 10, 0);
            log.Quiet = Log.New();
            await SendQuietAsync(endpoint, log, quiet, 10);
            var idle = log.Quiet.GetValueAtPercentile(99) / 1000.0;

            // The burst, then the quiet tenants again while it is queued.
            await Batches.SendAsync(burst, i => endpoint.Send(new TenantWork("A", i)), inFlight: 200);
            context.Progress($"{(contextualQueues ? "contextual" : "single queue")}: burst of {burst} sent");
            log.Quiet = Log.New();
            await SendQuietAsync(endpoint, log, quiet, 10 + quiet);
            return (idle, log.Quiet.GetValueAtPercentile(99) / 1000.0);
        }
        finally
        {
            await bus.StopAsync();
            if (context.Transport == BenchContext.RabbitMq)
                await DeleteAsync(queue, contextualQueues);
        }
    }

    static async Task SendQuietAsync(ISendEndpoint endpoint, Log log, int count, long first)
    {
        var target = Interlocked.Read(ref log.QuietDone) + 2 * count;
        for (var i = 0; i < count; i++)
        {
            await endpoint.Send(new TenantWork("B", first + i));
            await endpoint.Send(new TenantWork("C", first + i));
            await Task.Delay(Work * 2);
        }
        await WaitUntil(() => Interlocked.Read(ref log.QuietDone) >= target, TimeSpan.FromMinutes(2), "quiet tenants consumed");
    }

    static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }

    static RabbitMqProbeOptions Broker() => new()
    {
        HostName = ServiceEnvironment.RabbitHost,
        Port = ServiceEnvironment.RabbitAmqpPort,
        UserName = ServiceEnvironment.RabbitUser,
        Password = ServiceEnvironment.RabbitPassword
    };

    static Task DeleteAsync(string queue, bool contextual) =>
        contextual
            ? RabbitCleanup.DeleteEndpointsAsync([queue, .. new[] { "A", "B", "C" }.Select(c => $"{queue}.ctx.{ContextKey.Normalize(c, InvalidContextKeyHandling.Sanitize, 64)}")], queue + ".router")
            : RabbitCleanup.DeleteEndpointsAsync([queue]);
}
