using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>A sensor reading: the fast producer's stream.</summary>
    public record SensorReading(int Number);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Producer control flow: a producer three times faster than its consumer. The flow monitor slows
    /// it at the high watermark and lets it go at the low one; the depth is printed as it goes.
    /// </summary>
    public sealed class ControlFlowScenario : IShowcaseScenario
    {
        const int ConsumerWorkMs = 10, ProducerRatePerSecond = 300;
        const long High = 300, Low = 150;
        static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

        public string Name => "control-flow";

        public string Description => $"Back pressure: a {ProducerRatePerSecond} msg/s producer into a ~{1000 / ConsumerWorkMs} msg/s consumer, held between watermarks {Low} and {High}.";

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var duration = context.Quick ? TimeSpan.FromSeconds(8) : TimeSpan.FromSeconds(15);
            var queue = $"showcase-sensors-{Guid.NewGuid():N}"[..25];
            var consumed = new ConcurrentDictionary<int, byte>();
            var rabbit = context.Options.Transport == ShowcaseOptions.RabbitMq;

            using var host = new HostBuilder().ConfigureServices(s =>
            {
                s.AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error));
                s.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
                s.AddSingleton(consumed);
                if (rabbit)
                    s.AddRabbitMqQueueDepthProbe(o =>
                    {
                        o.HostName = ServiceEnvironment.RabbitHost;
                        o.Port = ServiceEnvironment.RabbitAmqpPort;
                        o.UserName = ServiceEnvironment.RabbitUser;
                        o.Password = ServiceEnvironment.RabbitPassword;
                    });
                else
                    s.AddInMemoryQueueDepthProbe();
                s.AddQueueDepthMonitor(o => o.PollInterval = Poll);
                s.AddFlowMonitor(o => o.Watch(queue, High, Low));
                s.AddMassTransit(x =>
                {
                    x.AddConsumer<SensorConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 1;
                        e.PrefetchCount = 1;
                    });
                    context.UseTransport(x, (ctx, cfg) => cfg.UseProducerControlFlow(ctx, o =>
                    {
                        o.WhenSlow = SlowAction.RateLimit;
                        o.SlowRatePerSecond = 40;
                    }));
                });
            }).Build();
            await host.StartAsync(cancellationToken);

            var store = host.Services.GetRequiredService<FlowControlStateStore>();
            var flaps = 0;
            var transitions = 0;
            var lastState = FlowState.Normal;
            store.Applied += s =>
            {
                if (s.State == lastState)
                    return;
                Interlocked.Increment(ref transitions);
                if (s.Depth > Low && s.Depth < High)
                    Interlocked.Increment(ref flaps);
                lastState = s.State;
            };

            var probe = host.Services.GetRequiredService<IQueueDepthProbe>();
            var endpoint = await host.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{queue}"));
            long peak = 0;
            var sent = 0;
            var watch = Stopwatch.StartNew();
            var next = TimeSpan.Zero;
            var tick = TimeSpan.FromSeconds(10.0 / ProducerRatePerSecond);
            var printAt = TimeSpan.Zero;
            Console.WriteLine("   time  depth  state   sent  consumed");
            while (watch.Elapsed < duration)
            {
                for (var i = 0; i < 10; i++, sent++)
                    await endpoint.Send(new SensorReading(sent), cancellationToken);
                next = next + tick > watch.Elapsed ? next + tick : watch.Elapsed;
                if (next - watch.Elapsed is { Ticks: > 0 } wait)
                    await Task.Delay(wait, cancellationToken);

                var depth = (await probe.GetDepthAsync(queue, cancellationToken)).Ready;
                peak = Math.Max(peak, depth);
                if (watch.Elapsed >= printAt)
                {
                    printAt += TimeSpan.FromSeconds(1);
                    Console.WriteLine($"  {watch.Elapsed.TotalSeconds,4:0}s {depth,6} {store.Get(queue).State,-6} {sent,6} {consumed.Count,9}");
                }
            }

            var drain = Stopwatch.StartNew();
            while (consumed.Count < sent && drain.Elapsed < TimeSpan.FromSeconds(60))
                await Task.Delay(100, cancellationToken);
            await host.StopAsync(CancellationToken.None);

            var bound = High + (long)(ProducerRatePerSecond * (Poll.TotalSeconds + 0.1));
            return new ResultTable($"control-flow: back pressure on {context.Options.Transport}")
                .Add("sent", sent)
                .Add("consumed", consumed.Count)
                .Add("peak depth", peak)
                .Add("high watermark + one poll of sending", bound)
                .Add("state changes", transitions)
                .Check("depth held near the high watermark", peak <= bound)
                .Check("nothing lost", consumed.Count == sent && Enumerable.Range(0, sent).All(consumed.ContainsKey))
                .Check("no flapping between the marks", flaps == 0);
        }

        sealed class SensorConsumer(ConcurrentDictionary<int, byte> consumed) : IConsumer<SensorReading>
        {
            public async Task Consume(ConsumeContext<SensorReading> context)
            {
                await Task.Delay(ConsumerWorkMs);
                consumed.TryAdd(context.Message.Number, 0);
            }
        }
    }
}
