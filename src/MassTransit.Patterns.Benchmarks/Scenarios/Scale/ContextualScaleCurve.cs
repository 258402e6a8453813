using System.Diagnostics;
using HdrHistogram;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// Contextual queues: contexts 10 → 10,000 (quick: → 1,000) arriving at <see cref="Rate"/> new contexts a second,
/// each sending its first message and, <see cref="SecondAfter"/> later, a second one. The cap is
/// <see cref="Cap"/> context queues (no buckets: beyond it a context stays on the default queue), idle queues retire
/// after <see cref="IdleTimeout"/>. Figures: <c>first_message_p99_ms</c> (send to consume of a new context's first
/// message), <c>second_message_p99_ms</c>, <c>second_on_own_queue_pct</c>, <c>queues_declared</c> (context queues
/// created in the step), <c>max_context_queues</c> (the registry, sampled every 20 ms), on RabbitMQ
/// <c>max_broker_queues</c>/<c>max_bindings</c> (management API, sampled every 500 ms) and what is left on the broker
/// once every queue retired (<c>broker_queues_end</c>, <c>bindings_end</c>, <c>exchanges_end</c>), <c>retire_all_s</c>
/// (last message consumed to the last queue retired), and managed memory (<c>bytes_per_context</c>: after everything
/// retired, against the start; <c>bytes_per_queue_declared</c> the same per queue created).
/// </summary>
public sealed class ContextualScaleCurve : IScaleCurve
{
    const int Cap = 100;
    const int Rate = 500;
    static readonly TimeSpan SecondAfter = TimeSpan.FromMilliseconds(200);
    static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(1);

    public string Pattern => "contextual";

    public string Unit => "contexts";

    public IReadOnlyList<long> Steps(BenchContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Quick ? [10, 100, 1_000] : [10, 100, 1_000, 10_000];
    }

    public async Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var contexts = (int)size;
        var queue = $"bench-scale-ctx-{Guid.NewGuid():N}"[..28];
        var log = new Log();
        var services = new ServiceCollection()
            .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .AddMetrics()
            .AddSingleton(log);
        services.AddMassTransit(x =>
        {
            x.AddContextualQueues<ScaleTenantWork>();
            x.AddConsumer<ScaleTenantConsumer>().ExcludeFromConfigureEndpoints();
            context.UseTransport(x, (registration, cfg) =>
            {
                void Configure(ContextualQueueConfigurator<ScaleTenantWork> q)
                {
                    q.DefaultQueue(queue).Context(m => m.Tenant).Endpoint(e => e.ConfigureConsumer<ScaleTenantConsumer>(registration));
                    q.Options.MaxContextQueues = Cap;
                    q.Options.IdleTimeout = IdleTimeout;
                    q.Options.IdleCheckInterval = TimeSpan.FromMilliseconds(200);
                    q.Options.DefaultConcurrentMessageLimit = 16;
                }
                switch (cfg)
                {
                    case IRabbitMqBusFactoryConfigurator rabbit:
                        rabbit.UseContextualQueues<ScaleTenantWork>(registration, Broker(), Configure);
                        break;
                    case IInMemoryBusFactoryConfigurator memory:
                        memory.UseContextualQueues<ScaleTenantWork>(registration, Configure);
                        break;
                    default:
                        throw new InvalidOperationException("unknown transport");
                }
            });
        });
        using var management = context.Transport == BenchContext.RabbitMq ? new RabbitManagement() : null;
        await using var provider = services.BuildServiceProvider(true);
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(cancellationToken);
        var routing = provider.GetRequiredService<ContextualRouting<ScaleTenantWork>>();
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var maxQueues = 0;
        var registrySampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                maxQueues = Math.Max(maxQueues, routing.ContextQueueCount);
                await Task.Delay(20, CancellationToken.None);
            }
        }, CancellationToken.None);
        int maxBrokerQueues = 0, maxBindings = 0;
        var brokerSampler = management is null ? Task.CompletedTask : Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                maxBrokerQueues = Math.Max(maxBrokerQueues, (await management.QueuesAsync(queue + ".ctx.", CancellationToken.None)).Count);
                maxBindings = Math.Max(maxBindings, await management.BindingsFromAsync(queue + ".router", CancellationToken.None));
                await Task.Delay(500, CancellationToken.None);
            }
        }, CancellationToken.None);
        try
        {
            var start = ScaleMachine.ManagedBytesAfterFullGc();
            var retiredBefore = routing.RetiredCount;
            var send = await bus.GetSendEndpoint(routing.RouterAddress);

            // Paced: every 10 ms the next Rate/100 contexts send their first message, and those of SecondAfter ago their second.
            var perTick = Math.Max(1, Rate / 100);
            var lag = (int)(SecondAfter.TotalMilliseconds / 10);
            var ticks = (contexts + perTick - 1) / perTick;
            var clock = Stopwatch.StartNew();
            for (var tick = 0; tick < ticks + lag; tick++)
            {
                var sends = new List<Task>(2 * perTick);
                for (var i = tick * perTick; i < Math.Min(contexts, (tick + 1) * perTick); i++)
                    sends.Add(send.Send(new ScaleTenantWork(TenantOf(i), 1, Stopwatch.GetTimestamp(), 5 * i / contexts), cancellationToken));
                var second = tick - lag;
                for (var i = second * perTick; second >= 0 && i < Math.Min(contexts, (second + 1) * perTick); i++)
                    sends.Add(send.Send(new ScaleTenantWork(TenantOf(i), 2, Stopwatch.GetTimestamp()), cancellationToken));
                await Task.WhenAll(sends);
                var due = TimeSpan.FromMilliseconds(10 * (tick + 1)) - clock.Elapsed;
                if (due > TimeSpan.Zero)
                    await Task.Delay(due, cancellationToken);
            }
            await WaitUntilAsync(() => log.Consumed >= 2L * contexts, TimeSpan.FromMinutes(3), $"{2 * contexts} messages consumed", cancellationToken);
            var sentIn = clock.Elapsed.TotalSeconds;

            var retireStarted = Stopwatch.GetTimestamp();
            await WaitUntilAsync(() => routing.ContextQueueCount == 0, TimeSpan.FromMinutes(3), "every context queue retired", cancellationToken);
            var retireAll = Stopwatch.GetElapsedTime(retireStarted).TotalSeconds;
            await sampling.CancelAsync();
            await registrySampler;
            await brokerSampler;
            var end = ScaleMachine.ManagedBytesAfterFullGc();
            var declared = routing.RetiredCount - retiredBefore + routing.ContextQueueCount;

            var figures = new Dictionary<string, double>
            {
                ["first_message_p99_ms"] = log.P99Ms(log.First),
                ["second_message_p99_ms"] = log.P99Ms(log.Second),
                ["first_message_p99_ms_first_fifth"] = log.P99Ms(log.FirstByFifth[0]),
                ["first_message_p99_ms_last_fifth"] = log.P99Ms(log.FirstByFifth[4]),
                ["second_on_own_queue_pct"] = 100.0 * log.SecondOnOwnQueue / contexts,
                ["queues_declared"] = declared,
                ["max_context_queues"] = maxQueues,
                ["cap"] = Cap,
                ["retire_all_s"] = retireAll,
                ["send_s"] = sentIn,
                ["managed_bytes_start"] = start,
                ["managed_bytes_end"] = end,
                ["bytes_per_context"] = Math.Max(0, end - start) / (double)contexts,
                ["bytes_per_queue_declared"] = declared == 0 ? 0 : Math.Max(0, end - start) / (double)declared
            };
            if (management is not null)
            {
                figures["max_broker_queues"] = maxBrokerQueues;
                figures["max_bindings"] = maxBindings;
                figures["broker_queues_end"] = (await management.QueuesAsync(queue + ".ctx.", cancellationToken)).Count;
                figures["bindings_end"] = await management.BindingsFromAsync(queue + ".router", cancellationToken);
                figures["exchanges_end"] = (await management.ExchangesAsync(queue + ".ctx.", cancellationToken)).Count;
            }
            return new ScaleStep(size, figures);
        }
        finally
        {
            await sampling.CancelAsync();
            await bus.StopAsync(CancellationToken.None);
            if (management is not null)
            {
                await RabbitCleanup.DeleteEndpointsAsync([queue], queue + ".router");
                await management.DeleteAllAsync(queue, CancellationToken.None);
            }
        }
    }

    static string TenantOf(int i) => $"t{i:D6}";

    static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for: {what}");
            await Task.Delay(10, cancellationToken);
        }
    }

    static RabbitMqProbeOptions Broker() => new()
    {
        HostName = ServiceEnvironment.RabbitHost,
        Port = ServiceEnvironment.RabbitAmqpPort,
        UserName = ServiceEnvironment.RabbitUser,
        Password = ServiceEnvironment.RabbitPassword
    };

    public ScaleSummary Summarize(IReadOnlyList<ScaleStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var last = steps[^1];
        var maxQueues = steps.Max(s => s.Figures.GetValueOrDefault("max_broker_queues", s.Figures["max_context_queues"]));
        var firstP99 = last.Figures["first_message_p99_ms"];
        var figures = new Dictionary<string, double>
        {
            ["max_queues"] = maxQueues,
            ["max_context_queues_registry"] = steps.Max(s => s.Figures["max_context_queues"]),
            ["cap"] = Cap,
            [$"first_message_p99_ms_{last.Size}"] = firstP99,
            ["bytes_per_context"] = last.Figures["bytes_per_context"],
            ["bytes_per_queue_declared"] = last.Figures["bytes_per_queue_declared"],
            ["bound.queues_le_cap"] = maxQueues <= Cap ? 1 : 0,
            ["bound.first_message_p99_le_50_ms"] = firstP99 <= 50 ? 1 : 0
        };
        if (last.Figures.TryGetValue("exchanges_end", out var exchanges))
            figures["exchanges_left_per_context"] = exchanges / last.Size;
        var growth = new Dictionary<string, string>
        {
            ["first_message_p99_ms"] = GrowthFit.Classify([.. steps.Select(s => ((double)s.Size, s.Figures["first_message_p99_ms"]))], floor: 1),
            ["managed_bytes_kept"] = GrowthFit.Classify([.. steps.Select(s => ((double)s.Size, s.Figures["managed_bytes_end"] - s.Figures["managed_bytes_start"]))], floor: 65_536)
        };
        var sentence = $"Context queues never exceeded the cap ({maxQueues:0} of {Cap} at most, {last.Size:N0} contexts arriving at {Rate}/s, idle queues retired after {IdleTimeout.TotalSeconds:0} s); " +
            $"a new context's first message took p99 {firstP99:0.#} ms at {last.Size:N0} contexts; memory kept once every queue retired: {last.Figures["bytes_per_queue_declared"]:N0} bytes per queue ever created " +
            $"({last.Figures["bytes_per_context"]:0} bytes per context seen), held by MassTransit, which keeps each receive endpoint configuration for the bus's lifetime" +
            (last.Figures.TryGetValue("exchanges_end", out var left) ? $"; the broker keeps {left / last.Size:0.##} exchange(s) per retired context (its address, forwarding to the default queue)." : ".");
        return new ScaleSummary(figures, growth, sentence);
    }

    sealed class Log
    {
        long _consumed;
        long _secondOnOwn;

        public LongConcurrentHistogram First { get; } = New();
        public LongConcurrentHistogram Second { get; } = New();

        /// <summary>First messages by fifth of the step (contexts in arrival order): does a new context wait longer as the step goes on?</summary>
        public LongConcurrentHistogram[] FirstByFifth { get; } = [New(), New(), New(), New(), New()];

        public long Consumed => Interlocked.Read(ref _consumed);

        public long SecondOnOwnQueue => Interlocked.Read(ref _secondOnOwn);

        public void Done(ScaleTenantWork message, bool onOwnQueue)
        {
            var micros = Math.Max(1, (long)Stopwatch.GetElapsedTime(message.SentAt).TotalMicroseconds);
            (message.Number == 1 ? First : Second).RecordValue(micros);
            if (message.Number == 1)
                FirstByFifth[Math.Clamp(message.Fifth, 0, 4)].RecordValue(micros);
            if (message.Number == 2 && onOwnQueue)
                Interlocked.Increment(ref _secondOnOwn);
            Interlocked.Increment(ref _consumed);
        }

        public double P99Ms(LongConcurrentHistogram histogram) => histogram.TotalCount == 0 ? 0 : histogram.GetValueAtPercentile(99) / 1000.0;

        static LongConcurrentHistogram New() => new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
    }

    /// <summary>One tenant's message of the scale curve (<see cref="Number"/> 1: its first).</summary>
    public sealed record ScaleTenantWork(string Tenant, int Number, long SentAt, int Fifth = 0);

    sealed class ScaleTenantConsumer(Log log) : IConsumer<ScaleTenantWork>
    {
        public Task Consume(ConsumeContext<ScaleTenantWork> context)
        {
            log.Done(context.Message, context.ReceiveContext.InputAddress?.AbsolutePath.Contains(".ctx.", StringComparison.Ordinal) == true);
            return Task.CompletedTask;
        }
    }
}
