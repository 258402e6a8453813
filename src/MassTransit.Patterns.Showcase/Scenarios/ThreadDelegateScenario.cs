using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>A ledger entry for an account: entries of one account must be applied in the order they were sent.</summary>
    public record LedgerEntry(string AccountId, int Seq, decimal Amount);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Thread delegate: ledger entries for many accounts, consumed with parallel lanes, each account's
    /// entries applied in send order. The same stream is run unordered for comparison.
    /// </summary>
    public sealed class ThreadDelegateScenario : IShowcaseScenario
    {
        public string Name => "thread-delegate";

        public string Description => "Per-account order with 8 parallel lanes vs plain concurrency 8 (each entry simulates 5 ms of I/O).";

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var count = context.Quick ? 800 : 3_000;
            const int accounts = 40, workers = 8;

            var (plainRate, plainViolations, _) = await RunAsync(context, count, accounts, workers, ordered: false, cancellationToken);
            var (orderedRate, orderedViolations, lanesSeen) = await RunAsync(context, count, accounts, workers, ordered: true, cancellationToken);

            return new ResultTable("thread delegate: per-key order with parallel lanes on " + context.Options.Transport)
                .Add("entries / accounts / workers", $"{count} / {accounts} / {workers}")
                .Add("ordered throughput (msg/s)", orderedRate)
                .Add("unordered throughput (msg/s)", plainRate)
                .Add("throughput ratio (ordered / unordered)", orderedRate / plainRate)
                .Add("order violations, thread delegate", orderedViolations)
                .Add("order violations, plain concurrency", plainViolations)
                .Add("most lanes busy at once", lanesSeen)
                .Check("every account's entries applied in send order", orderedViolations == 0)
                .Check("accounts processed in parallel (more than one lane busy)", lanesSeen > 1);
        }

        static async Task<(double Rate, long Violations, int LanesSeen)> RunAsync(ShowcaseContext context, int count, int accounts, int workers, bool ordered, CancellationToken cancellationToken)
        {
            var queue = $"showcase-ledger-{Guid.NewGuid():N}"[..26];
            var ledger = new Ledger(count);
            var control = new ThreadDelegateControl();
            await using var provider = new ServiceCollection()
                .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning))
                .AddMetrics()
                .AddSingleton(ledger)
                .AddMassTransit(x =>
                {
                    x.AddConsumer<ApplyEntryConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        // Unordered: one message per worker. Ordered, UseThreadDelegate sets it to Workers + MaxBuffered (the delivery buffer).
                        e.ConcurrentMessageLimit = ordered ? workers * 5 : workers;
                    });
                    x.AddConfigureEndpointsCallback((registration, name, cfg) =>
                    {
                        if (name == queue && ordered)
                            cfg.UseThreadDelegate(registration, o =>
                            {
                                o.Key<LedgerEntry>(m => m.AccountId);
                                o.Workers = workers;
                                o.Control = control;
                                if (cfg is IRabbitMqReceiveEndpointConfigurator)
                                    o.UseRabbitMqDeliveryOrder();
                            });
                    });
                    context.UseTransport(x);
                })
                .BuildServiceProvider(true);

            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var lanesSeen = 0;
            var watch = Stopwatch.StartNew();
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var random = new Random(17);
                var next = new int[accounts];
                await using (new Progress(ordered ? "thread delegate" : "unordered", count, () => ledger.Applied))
                {
                    for (var i = 0; i < count; i++)
                    {
                        var account = random.Next(accounts);
                        await endpoint.Send(new LedgerEntry($"account-{account}", next[account]++, random.Next(1, 100)), cancellationToken);
                        if (ordered && i % 50 == 0)
                            lanesSeen = Math.Max(lanesSeen, control.Snapshot()[queue].LanesBusy);
                    }
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(TimeSpan.FromMinutes(2));
                    while (!ledger.Done.IsCompleted)
                    {
                        if (ordered)
                            lanesSeen = Math.Max(lanesSeen, control.Snapshot()[queue].LanesBusy);
                        await Task.WhenAny(ledger.Done, Task.Delay(10, timeout.Token));
                    }
                }
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
            return (count / watch.Elapsed.TotalSeconds, ledger.Violations, lanesSeen);
        }

        public sealed class Ledger(int target)
        {
            readonly ConcurrentDictionary<string, int> _last = new();
            readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            long _applied;
            long _violations;

            public long Applied => Interlocked.Read(ref _applied);

            public long Violations => Interlocked.Read(ref _violations);

            public Task Done => _done.Task;

            public void Apply(LedgerEntry entry)
            {
                var previous = -1;
                _last.AddOrUpdate(entry.AccountId, entry.Seq, (_, last) =>
                {
                    previous = last;
                    return Math.Max(last, entry.Seq);
                });
                if (entry.Seq < previous)
                    Interlocked.Increment(ref _violations);
                if (Interlocked.Increment(ref _applied) == target)
                    _done.TrySetResult();
            }
        }

        sealed class ApplyEntryConsumer(Ledger ledger) : IConsumer<LedgerEntry>
        {
            public async Task Consume(ConsumeContext<LedgerEntry> context)
            {
                await Task.Delay(5, context.CancellationToken); // the ledger write
                ledger.Apply(context.Message);
            }
        }
    }
}
