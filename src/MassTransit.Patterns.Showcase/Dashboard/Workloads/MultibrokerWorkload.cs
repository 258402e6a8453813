using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Showcase.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>A transfer sent through the showcase's multibroker (its number in the producer's order).</summary>
public record MultibrokerTransfer(int Number);

/// <summary>
/// Multibroker: three in-memory brokers (alpha, beta, gamma) used as one, round-robin, a transfer every 100 ms. Every minute
/// gamma goes down for 10 s (its sends fail over, it is disconnected, then rejoins) and later hangs for 5 s (sends to it are
/// hedged to another broker; the copies it delivers when it answers again are suppressed as duplicates). Alpha and beta are
/// left alone, so an operator can eject one from the page and readmit it. Every 50th transfer is sent twice with one message
/// id (a resend after a lost confirm): the copy lands on another broker and the consumer side suppresses it.
/// </summary>
public sealed class MultibrokerWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-multibroker-transfers";
    public static readonly Uri Transfers = new("queue:" + Queue);

    public string Name => "multibroker";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        var brokers = new Brokers();
        services.AddSingleton(brokers);
        services.AddSingleton<TransferLedger>();
        services.AddMultibroker(x =>
        {
            x.Register(r => r.AddConsumer<TransferConsumer>().Endpoint(e => e.Name = Queue));
            x.Broker("alpha", brokers.Alpha).Broker("beta", brokers.Beta).Broker("gamma", brokers.Gamma);
            x.Options.EjectionTime = TimeSpan.FromSeconds(1);
        });
        services.AddHostedService<TransferProducer>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context)
    {
    }

    /// <summary>The three in-memory brokers, with the switches that take them down.</summary>
    public sealed class Brokers
    {
        public InMemoryMultibrokerTransport Alpha { get; } = new();

        public InMemoryMultibrokerTransport Beta { get; } = new();

        public InMemoryMultibrokerTransport Gamma { get; } = new();
    }

    /// <summary>Transfers consumed, per broker (for the showcase's own checks).</summary>
    public sealed class TransferLedger
    {
        long _consumed;

        public long Consumed => Interlocked.Read(ref _consumed);

        public void Count() => Interlocked.Increment(ref _consumed);
    }

    public sealed class TransferConsumer(TransferLedger ledger) : IConsumer<MultibrokerTransfer>
    {
        public Task Consume(ConsumeContext<MultibrokerTransfer> context)
        {
            ledger.Count();
            return Task.CompletedTask;
        }
    }

    /// <summary>Sends a transfer every 100 ms (every 50th twice, one id); takes gamma down at 20 s of every minute for 10 s, and hangs it at 45 s for 5 s.</summary>
    public sealed class TransferProducer(IMultibroker multibroker, Brokers brokers, TimeProvider time, IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken executeToken)
        {
            // Stops as soon as the app stops, before the bus does (hosted services stop in reverse order: the bus may go first).
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(executeToken, lifetime.ApplicationStopping);
            var stoppingToken = stopping.Token;
            var started = time.GetTimestamp();
            try
            {
                for (var n = 0; !stoppingToken.IsCancellationRequested; n++)
                {
                    var second = (int)time.GetElapsedTime(started).TotalSeconds % 60;
                    var outage = brokers.Gamma.Outage;
                    switch (second)
                    {
                        case >= 20 and < 30 when !outage.IsDown:
                            outage.Down();
                            break;
                        case >= 45 and < 50 when !outage.IsHung:
                            outage.Hang();
                            break;
                        case (< 20 or (>= 30 and < 45) or >= 50) when outage.IsDown || outage.IsHung:
                            outage.Up();
                            break;
                    }
                    try
                    {
                        var id = NewId.NextGuid();
                        var pipe = Pipe.Execute<SendContext<MultibrokerTransfer>>(c => c.MessageId = id);
                        await multibroker.SendAsync(Transfers, new MultibrokerTransfer(n), pipe: pipe, cancellationToken: stoppingToken);
                        if (n % 50 == 49)
                            await multibroker.SendAsync(Transfers, new MultibrokerTransfer(n), pipe: pipe, cancellationToken: stoppingToken);
                    }
                    catch (MultibrokerSendException)
                    {
                        // Every broker out (an operator held the two others while gamma is down): the next one is tried later.
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(100), time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            finally
            {
                brokers.Gamma.Outage.Up();
            }
        }
    }
}
