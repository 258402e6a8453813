using System.Collections.Concurrent;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>A report request from a tenant; rendering one takes a while.</summary>
    public record RenderReport(string? TenantId, int Number);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Contextual queues: eight tenants, queues created on first sight (cap 4, two buckets for the rest), one
    /// tenant bursting while the others send a little; then everyone goes quiet and the idle queues retire.
    /// </summary>
    public sealed class ContextualScenario : IShowcaseScenario
    {
        static readonly TimeSpan Work = TimeSpan.FromMilliseconds(20);

        public string Name => "contextual";

        public string Description => "A queue per tenant created on demand (cap 4 + 2 buckets): a 1,500-report burst from one tenant vs seven quiet ones; idle queues retire.";

        sealed class Log
        {
            public readonly ConcurrentDictionary<int, int> Times = new();
            public readonly ConcurrentQueue<(string? Tenant, TimeSpan Latency, string Queue)> Quiet = new();
            public long Done;
        }

        sealed class RenderConsumer(Log log) : IConsumer<RenderReport>
        {
            public async Task Consume(ConsumeContext<RenderReport> context)
            {
                await Task.Delay(Work, context.CancellationToken);
                log.Times.AddOrUpdate(context.Message.Number, 1, (_, n) => n + 1);
                if (context.Message.TenantId != "big")
                    log.Quiet.Enqueue((context.Message.TenantId, DateTime.UtcNow - (context.SentTime ?? DateTime.UtcNow),
                        context.ReceiveContext.InputAddress.AbsolutePath.Split('/')[^1]));
                Interlocked.Increment(ref log.Done);
            }
        }

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var burst = context.Quick ? 600 : 1_500;
            var queue = $"showcase-reports-{Guid.NewGuid():N}"[..26];
            var tenants = new[] { "big", "t1", "t2", "t3", "t4", "t5", "t6", "t7" };
            var log = new Log();
            await using var provider = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(log)
                .AddMassTransit(x =>
                {
                    x.AddContextualQueues<RenderReport>();
                    x.AddConsumer<RenderConsumer>().ExcludeFromConfigureEndpoints();
                    context.UseTransport(x, (registration, cfg) =>
                    {
                        void Configure(ContextualQueueConfigurator<RenderReport> q)
                        {
                            q.DefaultQueue(queue).Context(m => m.TenantId).Endpoint(e => e.ConfigureConsumer<RenderConsumer>(registration));
                            q.Options.MaxContextQueues = 4;
                            q.Options.BucketCount = 2;
                            q.Options.ConcurrentMessageLimit = 2;
                            q.Options.DefaultConcurrentMessageLimit = 2;
                            q.Options.IdleTimeout = TimeSpan.FromSeconds(2);
                        }
                        ShowcaseContext.UseContextualQueues<RenderReport>(registration, cfg, Configure);
                    });
                })
                .BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            try
            {
                var routing = provider.GetRequiredService<ContextualRouting<RenderReport>>();
                var endpoint = await bus.GetSendEndpoint(routing.RouterAddress);
                var n = 0;
                // First sight of each tenant (plus a report with no tenant): they land on the default queue and get queues or buckets.
                foreach (var tenant in tenants)
                {
                    await endpoint.Send(new RenderReport(tenant, ++n), cancellationToken);
                    await routing.WaitForQueueAsync(tenant, TimeSpan.FromSeconds(10));
                }
                await endpoint.Send(new RenderReport(null, ++n), cancellationToken);
                var queuesAtPeak = routing.ContextQueueCount;
                var bucketsAtPeak = routing.Queues.Count(q => q.IsBucket);

                Console.Error.WriteLine($"  tenant 'big' sends {burst} reports; seven others send 20 each meanwhile");
                var tasks = new List<Task>();
                for (var i = 0; i < burst; i++)
                    tasks.Add(endpoint.Send(new RenderReport("big", ++n), cancellationToken));
                await Task.WhenAll(tasks);
                var quietStart = log.Quiet.Count;
                for (var round = 0; round < 20; round++)
                {
                    foreach (var tenant in tenants.Skip(1))
                        await endpoint.Send(new RenderReport(tenant, ++n), cancellationToken);
                    await Task.Delay(Work * 4, cancellationToken);
                }
                var total = n;
                await using (new Progress("reports rendered", total, () => Interlocked.Read(ref log.Done)))
                    await WaitAsync(() => Interlocked.Read(ref log.Done) >= total, TimeSpan.FromMinutes(3));
                var quiet = log.Quiet.Skip(quietStart).Select(q => q.Latency.TotalMilliseconds).Order().ToArray();
                var p99 = quiet[(int)Math.Ceiling(0.99 * quiet.Length) - 1];

                Console.Error.WriteLine("  everyone goes quiet: idle queues retire");
                var retired = await WaitAsync(() => routing.ContextQueueCount == 0, TimeSpan.FromSeconds(30));
                var lost = Enumerable.Range(1, total).Count(i => !log.Times.ContainsKey(i));
                var twice = log.Times.Values.Count(v => v > 1);

                // Quiet tenants share at most a bucket with one another, never a queue with the burst (tenant 'big' came first, it has its own).
                var bound = TimeSpan.FromMilliseconds(Work.TotalMilliseconds * 10).TotalMilliseconds;
                return new ResultTable("contextual queues: a queue per tenant on " + context.Options.Transport)
                    .Add("tenants / cap / buckets", $"{tenants.Length} / 4 / 2")
                    .Add("context queues at peak", queuesAtPeak)
                    .Add("bucket queues at peak", bucketsAtPeak)
                    .Add("burst from one tenant", burst)
                    .Add("quiet tenants' p99 during the burst (ms)", p99)
                    .Add("burst alone would take (ms)", burst * Work.TotalMilliseconds / 2)
                    .Add("reports lost", lost)
                    .Add("reports rendered twice", twice)
                    .Check($"quiet tenants' p99 below {bound:0} ms (10 x the work) during the burst", p99 <= bound)
                    .Check("context queues never exceed the cap", queuesAtPeak <= 4)
                    .Check("no report lost or rendered twice", lost == 0 && twice == 0)
                    .Check("idle queues retired", retired);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                if (context.Options.Transport == ShowcaseOptions.RabbitMq)
                    await DeleteAsync(queue, tenants);
            }
        }

        /// <summary>Removes what the run left on the broker: the default queue, buckets, any queue not yet retired, the router.</summary>
        static async Task DeleteAsync(string queue, string[] tenants)
        {
            var factory = new global::RabbitMQ.Client.ConnectionFactory
            {
                HostName = ServiceEnvironment.RabbitHost,
                Port = ServiceEnvironment.RabbitAmqpPort,
                UserName = ServiceEnvironment.RabbitUser,
                Password = ServiceEnvironment.RabbitPassword
            };
            await using var connection = await factory.CreateConnectionAsync();
            var names = new List<string> { queue, queue + ".bucket.0", queue + ".bucket.1" };
            names.AddRange(tenants.Select(t => $"{queue}.ctx.{t}"));
            foreach (var name in names.SelectMany(n => new[] { n, n + "_error", n + "_skipped" }))
            {
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(name);
                await channel.ExchangeDeleteAsync(name);
            }
            await using var last = await connection.CreateChannelAsync();
            await last.ExchangeDeleteAsync(queue + ".router");
        }

        static async Task<bool> WaitAsync(Func<bool> condition, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                    return false;
                await Task.Delay(50);
            }
            return true;
        }
    }
}
