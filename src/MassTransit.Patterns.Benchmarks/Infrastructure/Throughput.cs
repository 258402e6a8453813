using System.Diagnostics;
using MassTransit.Patterns.Benchmarks.Messages;
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
        CancellationToken cancellationToken)
    {
        var queue = $"bench-{Guid.NewGuid():N}"[..22];
        var counter = new CompletionCounter(count);
        var collection = new ServiceCollection().AddMetrics()
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
            context.UseTransport(x);
        });
        await using var provider = collection.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(cancellationToken);
        try
        {
            var send = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
            var watch = Stopwatch.StartNew();
            await Batches.SendAsync(count, i => send.Send(new BenchMessage(i), cancellationToken));
            await counter.Completed.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
            return count / watch.Elapsed.TotalSeconds;
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
        }
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
