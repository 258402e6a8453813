using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>A thumbnail to render: the showcase's bursty work.</summary>
    public record RenderThumbnail(int Number);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Supervisor-consumer: a quiet queue, a burst, a probe outage, quiet again. The supervisor's
    /// concurrency is printed against the depth as it goes.
    /// </summary>
    public sealed class SupervisorScenario : IShowcaseScenario
    {
        const int Min = 2, Max = 16, PerConsumer = 10;
        static readonly TimeSpan WorkTime = TimeSpan.FromMilliseconds(20);
        static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200), Cooldown = TimeSpan.FromSeconds(1.5);

        public string Name => "supervisor";

        public string Description => $"Elastic consumers: {Min}..{Max} following queue depth through a burst and a probe outage.";

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var burst = context.Quick ? 800 : 2_000;
            var queue = $"showcase-thumbs-{Guid.NewGuid():N}"[..24];
            var work = new Work();
            var rabbit = context.Options.Transport == ShowcaseOptions.RabbitMq;
            var services = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error).AddFilter("MassTransit.Patterns", LogLevel.Warning))
                .AddSingleton(work)
                .AddConsumerSupervisorRegistry();
            if (rabbit)
                services.AddRabbitMqQueueDepthProbe(o =>
                {
                    o.HostName = ServiceEnvironment.RabbitHost;
                    o.Port = ServiceEnvironment.RabbitAmqpPort;
                    o.UserName = ServiceEnvironment.RabbitUser;
                    o.Password = ServiceEnvironment.RabbitPassword;
                });
            else
                services.AddInMemoryQueueDepthProbe();
            // The probe the application registered, with a switch to make it fail for a while.
            services.Replace(ServiceDescriptor.Singleton<IQueueDepthProbe>(sp => new SwitchableProbe(rabbit
                ? sp.GetRequiredService<RabbitMqQueueDepthProbe>()
                : sp.GetRequiredService<QueueDepth.InMemory.InMemoryQueueDepthProbe>())));
            services.AddMassTransit(x =>
            {
                x.AddConsumer<RenderConsumer>().Endpoint(e => e.Name = queue);
                x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                {
                    if (name == queue)
                        cfg.UseSupervisor(ctx, o =>
                        {
                            o.MinConsumers = Min;
                            o.MaxConsumers = Max;
                            o.MessagesPerConsumer = PerConsumer;
                            o.PollInterval = Poll;
                            o.ScaleDownCooldown = Cooldown;
                        });
                });
                context.UseTransport(x);
            });
            await using var provider = services.BuildServiceProvider(true);

            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var supervisor = provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue);
            var probe = (SwitchableProbe)provider.GetRequiredService<IQueueDepthProbe>();
            var ticks = new ConcurrentQueue<(double Seconds, SupervisorTick Tick, string Phase)>();
            var watch = Stopwatch.StartNew();
            var phase = "quiet";
            var lastPrinted = -1.0;
            supervisor.Ticked += t =>
            {
                var seconds = watch.Elapsed.TotalSeconds;
                ticks.Enqueue((seconds, t, phase));
                if (seconds - lastPrinted < 0.4 && t.Direction == ScalingDirection.Hold)
                    return;
                lastPrinted = seconds;
                var bar = new string('#', t.Limit).PadRight(Max);
                var depth = t.Depth is { } d ? $"{d,6:N0}" : "  ????";
                Console.WriteLine($"  {seconds,5:0.0}s {phase,-12} depth {depth}  consumers [{bar}] {t.Limit,2} (busy {t.Active,2}){(t.Failure is null ? "" : "  probe failed: holding")}");
            };

            bool heldDuringOutage;
            try
            {
                Console.WriteLine($"  time  phase        depth     consumers (limit {Min}..{Max}, {PerConsumer} waiting messages per consumer)");
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);

                phase = "burst";
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                await Task.WhenAll(Enumerable.Range(0, burst).Select(i => endpoint.Send(new RenderThumbnail(i), cancellationToken)));
                await WaitAsync(() => work.Unique == burst, TimeSpan.FromMinutes(2), cancellationToken);

                phase = "probe down";
                var levelBefore = supervisor.Limit;
                probe.Failing = true;
                var outageTicks = supervisor.Ticks;
                await WaitAsync(() => supervisor.Ticks - outageTicks >= (long)(2 * Cooldown / Poll), TimeSpan.FromSeconds(30), cancellationToken);
                heldDuringOutage = supervisor.Limit == levelBefore;
                probe.Failing = false;

                phase = "quiet";
                await WaitAsync(() => supervisor.Limit == Min, TimeSpan.FromSeconds(30), cancellationToken);
                await Task.Delay(Poll * 2, cancellationToken);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }

            var all = ticks.ToArray();
            var burstTicks = all.Where(t => t.Phase == "burst").ToArray();
            var outage = all.Where(t => t.Phase == "probe down").ToArray();
            var backAtMin = all.FirstOrDefault(t => t.Phase == "quiet" && t.Seconds > outage.LastOrDefault().Seconds && t.Tick.Limit == Min);
            return new ResultTable($"supervisor: elastic consumers on {context.Options.Transport}")
                .Add("burst (messages)", burst)
                .Add("peak depth", all.Max(t => t.Tick.Depth ?? 0))
                .Add("peak consumers busy at once", work.Peak)
                .Add("scaling decisions", all.Count(t => t.Tick.Direction != ScalingDirection.Hold))
                .Add("probe failures (held)", supervisor.ProbeFailures)
                .Add("consumer-seconds used", supervisor.ConsumerSeconds)
                .Add($"consumer-seconds at fixed {Max}", Max * watch.Elapsed.TotalSeconds)
                .Check($"concurrency stayed within [{Min}, {Max}]", all.All(t => t.Tick.Limit is >= Min and <= Max) && work.Peak <= Max)
                .Check($"the burst raised it to {Max}", burstTicks.Any(t => t.Tick.Limit == Max))
                .Check("a failing probe held the level", heldDuringOutage && outage.Where(t => t.Tick.Failure is not null).All(t => t.Tick.Direction == ScalingDirection.Hold))
                .Check($"back to {Min} after the cool-down", backAtMin.Tick is not null)
                .Check("every message consumed exactly once", work.Unique == burst && work.Consumed == burst);
        }

        static async Task WaitAsync(Func<bool> condition, TimeSpan timeout, CancellationToken cancellationToken)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            while (!condition())
                await Task.Delay(50, deadline.Token);
        }

        /// <summary>The registered probe, made to fail on demand.</summary>
        sealed class SwitchableProbe(IQueueDepthProbe inner) : IQueueDepthProbe
        {
            public volatile bool Failing;

            public string Name => inner.Name;

            public bool KnowsUnacknowledged => inner.KnowsUnacknowledged;

            public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) =>
                Failing
                    ? throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, "the showcase switched the probe off.")
                    : inner.GetDepthAsync(queue, cancellationToken);
        }

        public sealed class Work
        {
            readonly ConcurrentDictionary<int, byte> _seen = new();
            int _busy, _peak;
            long _consumed;

            public int Peak => Volatile.Read(ref _peak);

            public long Consumed => Interlocked.Read(ref _consumed);

            public int Unique => _seen.Count;

            public async Task DoAsync(int number, CancellationToken cancellationToken)
            {
                var now = Interlocked.Increment(ref _busy);
                int peak;
                while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak)
                {
                }
                try
                {
                    await Task.Delay(WorkTime, cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref _busy);
                    Interlocked.Increment(ref _consumed);
                    _seen.TryAdd(number, 0);
                }
            }
        }

        sealed class RenderConsumer(Work work) : IConsumer<RenderThumbnail>
        {
            public Task Consume(ConsumeContext<RenderThumbnail> context) => work.DoAsync(context.Message.Number, context.CancellationToken);
        }
    }
}
