using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Benchmarks.Messages
{
    /// <summary>A workflow benchmark message: <see cref="Poison"/> makes the consumer reject it, <see cref="Repairable"/> lets the repairer fix it.</summary>
    public record WorkflowBenchMessage(int Number, bool Poison, bool Repairable);
}

namespace MassTransit.Patterns.Benchmarks.Scenarios
{
    using Messages;

    /// <summary>
    /// <c>workflow</c>: a stream with 5 % poison messages, consumed by 8 concurrent consumers doing 5 ms
    /// of I/O each. Good-message throughput is measured three ways in the same run: without poison (the
    /// baseline, plain endpoint), with poison handed to the workflow processor (half repairable, half
    /// left for a person), and with poison retried in place by MassTransit's <c>UseMessageRetry</c>
    /// (3 × 100 ms, then <c>_error</c>), and with poison sent straight to <c>_error</c> (the dead end the
    /// pattern replaces, for scale). Every message id is accounted for: processed once, or waiting.
    /// </summary>
    public sealed class WorkflowScenario : IBenchScenario
    {
        const int Concurrency = 8;
        const int WorkMilliseconds = 5;
        const int PoisonEvery = 20; // 5 %
        const int RetryLimit = 3;
        const int ProcessorConcurrency = 1; // repair is background work: it should not take the cores from the main endpoint
        static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);

        public string Name => "workflow";

        public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory, BenchContext.RabbitMq];

        enum Variant
        {
            Clean,
            Workflow,
            RetryInPlace,
            ErrorQueue
        }

        sealed record Outcome(double GoodRate, int Repaired, int Waiting, int Lost, int ProcessedTwice);

        public async Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
        {
            var count = context.Quick ? 1_500 : 4_000;
            var rounds = context.Quick ? 1 : 3;
            var rates = new Dictionary<Variant, List<double>> { [Variant.Clean] = [], [Variant.Workflow] = [], [Variant.RetryInPlace] = [], [Variant.ErrorQueue] = [] };
            Outcome? last = null;
            int repaired = 0, waiting = 0, lost = 0, twice = 0;

            context.Progress("warm-up");
            await MeasureAsync(context, Variant.Workflow, 200, cancellationToken);

            for (var round = 1; round <= rounds; round++)
                foreach (var variant in new[] { Variant.Clean, Variant.Workflow, Variant.RetryInPlace, Variant.ErrorQueue })
                {
                    var outcome = await MeasureAsync(context, variant, count, cancellationToken);
                    rates[variant].Add(outcome.GoodRate);
                    if (variant == Variant.Workflow)
                    {
                        last = outcome;
                        repaired += outcome.Repaired;
                        waiting += outcome.Waiting;
                        lost += outcome.Lost;
                        twice += outcome.ProcessedTwice;
                    }
                    else
                    {
                        lost += outcome.Lost;
                        twice += outcome.ProcessedTwice;
                    }
                    context.Progress($"round {round}/{rounds} {variant}: {outcome.GoodRate:N0} good msg/s" +
                        (variant == Variant.Workflow ? $", repaired {outcome.Repaired}, waiting {outcome.Waiting}, lost {outcome.Lost}, twice {outcome.ProcessedTwice}" : ""));
                }

            var clean = Throughput.Median(rates[Variant.Clean]);
            var workflow = Throughput.Median(rates[Variant.Workflow]);
            var retry = Throughput.Median(rates[Variant.RetryInPlace]);
            var errorQueue = Throughput.Median(rates[Variant.ErrorQueue]);
            return new BenchResult(Name, context.Transport)
                .Parameter("messages", count)
                .Parameter("rounds", rounds)
                .Parameter("poison_pct", 100.0 / PoisonEvery)
                .Parameter("concurrency", Concurrency)
                .Parameter("work_ms", WorkMilliseconds)
                .Parameter("retry_in_place", $"{RetryLimit} x {RetryInterval.TotalMilliseconds} ms")
                .Parameter("saga_repository", "in-memory")
                .Parameter("processor_concurrency", ProcessorConcurrency)
                .Metric("good_throughput_ratio", workflow / clean)
                .Metric("good_throughput_ratio_retry_in_place", retry / clean)
                .Metric("good_throughput_ratio_error_queue", errorQueue / clean)
                .Metric("good_msg_per_s_clean", clean)
                .Metric("good_msg_per_s_error_queue", errorQueue)
                .Metric("good_msg_per_s_workflow", workflow)
                .Metric("good_msg_per_s_retry_in_place", retry)
                .Metric("repaired", last?.Repaired ?? 0)
                .Metric("waiting_for_person", last?.Waiting ?? 0)
                .Metric("repaired_all_rounds", repaired)
                .Metric("waiting_for_person_all_rounds", waiting)
                .Metric("lost", lost)
                .Metric("processed_twice", twice);
        }

        sealed class Ledger(int goodTarget)
        {
            public readonly ConcurrentDictionary<Guid, int> Processed = new();
            readonly TaskCompletionSource _goodDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
            int _good;

            public Task GoodDone => _goodDone.Task;

            public void Record(Guid id, bool wasPoison)
            {
                if (Processed.AddOrUpdate(id, 1, (_, n) => n + 1) == 1 && !wasPoison && Interlocked.Increment(ref _good) == goodTarget)
                    _goodDone.TrySetResult();
            }
        }

        sealed class PoisonException(string message) : Exception(message);

        sealed class BenchConsumer(Ledger ledger) : IConsumer<WorkflowBenchMessage>
        {
            public async Task Consume(ConsumeContext<WorkflowBenchMessage> context)
            {
                if (context.Message.Poison)
                    throw new PoisonException($"message {context.Message.Number} is invalid");
                await Task.Delay(WorkMilliseconds, context.CancellationToken);
                ledger.Record(context.MessageId!.Value, context.GetWorkflowAttempt() > 0);
            }
        }

        sealed class BenchRepairer : IMessageRepairer<WorkflowBenchMessage>
        {
            public Task<RepairResult<WorkflowBenchMessage>> Repair(MessageRepairContext<WorkflowBenchMessage> context, CancellationToken cancellationToken) =>
                Task.FromResult(context.Message.Repairable
                    ? RepairResult<WorkflowBenchMessage>.Repaired(context.Message with { Poison = false })
                    : RepairResult<WorkflowBenchMessage>.CannotRepair());
        }

        static async Task<Outcome> MeasureAsync(BenchContext context, Variant variant, int count, CancellationToken cancellationToken)
        {
            var queue = $"bench-wf-{Guid.NewGuid():N}"[..24];
            var repairQueue = queue + "-repair";
            var poisonIds = new List<(Guid Id, bool Repairable)>();
            var ids = new Guid[count];
            for (var i = 0; i < count; i++)
                ids[i] = NewId.NextGuid();
            var isPoison = (int i) => variant != Variant.Clean && i % PoisonEvery == PoisonEvery - 1;
            var goodCount = Enumerable.Range(0, count).Count(i => !isPoison(i));
            var ledger = new Ledger(goodCount);

            var services = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Error).AddFilter("MassTransit", LogLevel.Critical))
                .AddSingleton(ledger);
            services.AddMassTransit(x =>
            {
                if (variant == Variant.Workflow)
                {
                    x.AddWorkflowEventProcessor(o =>
                    {
                        o.QueueName = repairQueue;
                        o.ConcurrentMessageLimit = ProcessorConcurrency;
                    }).InMemoryRepository();
                    x.AddMessageRepairer<WorkflowBenchMessage, BenchRepairer>();
                }
                x.AddConsumer<BenchConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = Concurrency;
                    e.PrefetchCount = Concurrency * 2;
                });
                x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                {
                    if (name != queue)
                        return;
                    if (variant == Variant.Workflow)
                        cfg.UseWorkflowEvent(ctx, o =>
                        {
                            o.RepairAddress = new Uri($"exchange:{repairQueue}");
                            o.Delegate<PoisonException>();
                        });
                    else if (variant == Variant.RetryInPlace)
                        cfg.UseMessageRetry(r => r.Interval(RetryLimit, RetryInterval));
                });
                context.UseTransport(x);
            });
            await using var provider = services.BuildServiceProvider();
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            try
            {
                var send = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var watch = Stopwatch.StartNew();
                await Batches.SendAsync(count, i =>
                {
                    var poison = isPoison(i);
                    var repairable = poison && i / PoisonEvery % 2 == 0;
                    if (poison)
                        poisonIds.Add((ids[i], repairable));
                    var id = ids[i];
                    return send.Send(new WorkflowBenchMessage(i, poison, repairable), c => c.MessageId = id, cancellationToken);
                });
                await ledger.GoodDone.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
                var rate = goodCount / watch.Elapsed.TotalSeconds;

                var repaired = 0;
                var waiting = 0;
                var lost = 0;
                if (variant == Variant.Workflow)
                {
                    var load = provider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>();
                    var deadline = Stopwatch.StartNew();
                    while (true)
                    {
                        repaired = waiting = 0;
                        foreach (var (id, _) in poisonIds)
                            switch ((await load.Load(id))?.CurrentState)
                            {
                                case "Completed":
                                    repaired++;
                                    break;
                                case "AwaitingPerson":
                                    waiting++;
                                    break;
                            }
                        if (repaired + waiting == poisonIds.Count || deadline.Elapsed > TimeSpan.FromSeconds(60))
                            break;
                        await Task.Delay(50, cancellationToken);
                    }
                    // Lost: a poison message neither repaired-and-processed nor waiting, or a repaired one not processed.
                    lost = poisonIds.Count - repaired - waiting + poisonIds.Count(p => p.Repairable && !ledger.Processed.ContainsKey(p.Id));
                }
                lost += ids.Where((_, i) => !isPoison(i)).Count(id => !ledger.Processed.ContainsKey(id));
                var twice = ledger.Processed.Values.Count(n => n > 1);
                return new Outcome(rate, repaired, waiting, lost, twice);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
        }
    }
}
