using System.Collections.Concurrent;
using System.Diagnostics;
using HdrHistogram;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>An order placed by the showcase's producer.</summary>
    public record OrderPlaced(Guid OrderId, int Number, long SentAtTicks);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Plain MassTransit, no pattern: a producer sends orders, a consumer records each in SQLite. It
    /// is the yardstick the pattern scenarios are read against.
    /// </summary>
    public sealed class BaselineScenario : IShowcaseScenario
    {
        public string Name => "baseline";

        public string Description => "Plain MassTransit: orders sent, consumed with concurrency 8, each recorded in SQLite.";

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var count = context.Quick ? 500 : 2_000;
            var queue = $"showcase-orders-{Guid.NewGuid():N}"[..24];
            var stats = new ConsumerStats();

            await using var provider = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error))
                .AddSingleton(stats)
                .AddDbContext<ShowcaseDb>(o => o.UseSqlite(context.SqliteConnectionString("baseline")))
                .AddMassTransit(x =>
                {
                    x.AddConsumer<RecordOrderConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 8;
                    });
                    context.UseTransport(x);
                })
                .BuildServiceProvider(true);

            await using (var scope = provider.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<ShowcaseDb>();
                await db.PrepareAsync(cancellationToken);
            }

            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var watch = Stopwatch.StartNew();
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                await using (new Progress("sent + recorded", count * 2L, () => stats.Sent + stats.Recorded))
                {
                    for (var i = 0; i < count; i++)
                    {
                        await endpoint.Send(new OrderPlaced(Guid.NewGuid(), i, Stopwatch.GetTimestamp()), cancellationToken);
                        Interlocked.Increment(ref stats.SentField);
                    }

                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(TimeSpan.FromMinutes(2));
                    await stats.AllRecorded(count).WaitAsync(timeout.Token);
                }
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
            watch.Stop();

            await using var check = provider.CreateAsyncScope();
            var stored = await check.ServiceProvider.GetRequiredService<ShowcaseDb>().Orders.CountAsync(cancellationToken);
            var latency = stats.Latency;
            return new ResultTable("baseline: plain MassTransit on " + context.Options.Transport)
                .Add("messages", count)
                .Add("throughput (msg/s)", count / watch.Elapsed.TotalSeconds)
                .Add("latency p50 (ms)", latency.GetValueAtPercentile(50) / 1000.0)
                .Add("latency p99 (ms)", latency.GetValueAtPercentile(99) / 1000.0)
                .Add("rows in SQLite", stored)
                .Check("every order recorded exactly once", stored == count && stats.Recorded == count);
        }

        public sealed class ConsumerStats
        {
            public long SentField;
            long _recorded;
            int _target = int.MaxValue;
            readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            readonly LongConcurrentHistogram _latency = new(1, TimeSpan.FromMinutes(5).Ticks / 10, 3);

            public long Sent => Interlocked.Read(ref SentField);

            public long Recorded => Interlocked.Read(ref _recorded);

            public HistogramBase Latency => _latency;

            public void Record(long sentAtTimestamp)
            {
                _latency.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(sentAtTimestamp).TotalMicroseconds));
                if (Interlocked.Increment(ref _recorded) >= Volatile.Read(ref _target))
                    _done.TrySetResult();
            }

            public Task AllRecorded(int target)
            {
                Volatile.Write(ref _target, target);
                if (Recorded >= target)
                    _done.TrySetResult();
                return _done.Task;
            }
        }

        sealed class RecordOrderConsumer(ShowcaseDb db, ConsumerStats stats) : IConsumer<OrderPlaced>
        {
            public async Task Consume(ConsumeContext<OrderPlaced> context)
            {
                db.Orders.Add(new OrderRow { OrderId = context.Message.OrderId, Number = context.Message.Number });
                await db.SaveChangesAsync(context.CancellationToken);
                stats.Record(context.Message.SentAtTicks);
            }
        }
    }
}
