using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.Showcase.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>A sensor reading (the control-flow workload's watched queue).</summary>
public sealed record ControlFlowReading(int Number);

/// <summary>
/// Producer control flow: one slow consumer (one at a time, 20 ms each: about 50 a second) on a watched queue
/// (slow at 150, normal again at 40, stopped at 300). A producer sends 80 a second for 15 s, so the queue turns slow and
/// its sends are rate-limited (20 a second) until it drains; then a burst of 400 at once stops the queue and the
/// producer is held until it drains below the high watermark; then 10 s quiet. Every 40 s again.
/// </summary>
public sealed class ControlFlowWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-control-flow-readings";
    public const long HighWatermark = 150;
    public const long LowWatermark = 40;
    public const long StopMark = 300;

    public string Name => "control-flow";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        QueueDepthServices.AddProbe(services, context);
        services.AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(250));
        services.AddFlowMonitor(o =>
        {
            o.Watch(Queue, HighWatermark, LowWatermark, StopMark).Consumes<ControlFlowReading>();
            // The producers are in this process: the monitor feeds them directly.
            o.PublishToBus = false;
        });
        services.AddSingleton<Traffic>();
        services.AddHostedService<Producer>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context) =>
        x.AddConsumer<ReadingConsumer>().Endpoint(e =>
        {
            e.Name = Queue;
            e.ConcurrentMessageLimit = 1;
            e.PrefetchCount = 1;
        });

    public void ConfigureBus(IBusRegistrationContext context, IBusFactoryConfigurator cfg) =>
        cfg.UseProducerControlFlow(context, o =>
        {
            o.WhenSlow = SlowAction.RateLimit;
            o.SlowRatePerSecond = 20;
            o.WhenStopped = StopAction.Wait;
            o.MaxWait = TimeSpan.FromSeconds(30);
        });

    /// <summary>Pauses the producer; <see cref="ConsumerPaused"/> stalls the consumer (the queue's depth then stays where it is).</summary>
    public sealed class Traffic : WorkloadTraffic
    {
        volatile bool _consumerPaused;
        long _sent;
        long _refused;

        /// <summary>Readings sent (accepted by the transport).</summary>
        public long Sent => Interlocked.Read(ref _sent);

        /// <summary>Readings refused with <see cref="BackPressureException"/> (the producer still has them and drops them: a showcase).</summary>
        public long Refused => Interlocked.Read(ref _refused);

        /// <summary>True while the consumer takes nothing more.</summary>
        public bool ConsumerPaused
        {
            get => _consumerPaused;
            set => _consumerPaused = value;
        }

        /// <summary>True while the consumer waits, paused, with a reading in hand.</summary>
        public bool ConsumerParked => Volatile.Read(ref _parked) > 0;

        int _parked;

        internal async Task WhileConsumerPausedAsync(CancellationToken cancellationToken)
        {
            if (!_consumerPaused)
                return;
            Interlocked.Increment(ref _parked);
            try
            {
                while (_consumerPaused)
                    await Task.Delay(50, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _parked);
            }
        }

        internal void CountSent() => Interlocked.Increment(ref _sent);

        internal void CountRefused() => Interlocked.Increment(ref _refused);
    }

    /// <summary>Stores one reading in 20 ms.</summary>
    public sealed class ReadingConsumer(Traffic traffic) : IConsumer<ControlFlowReading>
    {
        public async Task Consume(ConsumeContext<ControlFlowReading> context)
        {
            await traffic.WhileConsumerPausedAsync(context.CancellationToken);
            await Task.Delay(20, context.CancellationToken);
        }
    }

    sealed class Producer(IBus bus, Traffic traffic, FlowControlStateStore store) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{Queue}"));
                var n = 0;
                while (!stoppingToken.IsCancellationRequested)
                {
                    var steadyUntil = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(15);
                    while (DateTimeOffset.UtcNow < steadyUntil)
                    {
                        await traffic.WhilePausedAsync(stoppingToken);
                        await SendAsync(endpoint, n++, stoppingToken);
                        await Task.Delay(12, stoppingToken);
                    }

                    // The burst leaves at once while the queue is normal, and stops it.
                    while (store.Get(Queue).State != FlowState.Normal)
                        await Task.Delay(100, stoppingToken);
                    await traffic.WhilePausedAsync(stoppingToken);
                    await Task.WhenAll(Enumerable.Range(0, 400).Select(_ => SendAsync(endpoint, Interlocked.Increment(ref n), stoppingToken)));
                    var heldUntil = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(15);
                    while (DateTimeOffset.UtcNow < heldUntil)
                    {
                        await traffic.WhilePausedAsync(stoppingToken);
                        await SendAsync(endpoint, n++, stoppingToken);
                        await Task.Delay(50, stoppingToken);
                    }
                    await Task.Delay(TimeSpan.FromSeconds(10), stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }

        async Task SendAsync(ISendEndpoint endpoint, int number, CancellationToken cancellationToken)
        {
            try
            {
                await endpoint.Send(new ControlFlowReading(number), cancellationToken);
                traffic.CountSent();
            }
            catch (BackPressureException)
            {
                traffic.CountRefused();
            }
        }
    }
}
