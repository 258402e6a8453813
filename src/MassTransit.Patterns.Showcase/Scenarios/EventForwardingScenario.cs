using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using HdrHistogram;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.RabbitMQ.EventForwarding;
using MassTransit.Patterns.Showcase.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>An order to record: its effect must exist exactly once.</summary>
    public record PlaceOrder(Guid OrderId, int Number);

    /// <summary>The event the order's consumer (or the API handler) forwards through the outbox.</summary>
    public record OrderAccepted(Guid OrderId, int Number);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Event forwarding end to end: orders are sent with confirmed, resent sends; the consumer records
    /// each in SQLite inside one transaction with its inbox row and the outbox row of the event it
    /// forwards; the delivery service forwards the events after commit. Faults are injected on
    /// purpose: some orders arrive twice with one message id (a resend after a lost confirmation),
    /// some fail after their commit (a crash before the acknowledgement, then redelivered). An API
    /// handler with no incoming message publishes through the same outbox. The same faults are then
    /// replayed without the inbox, to show what it prevents.
    /// </summary>
    public sealed class EventForwardingScenario : IShowcaseScenario
    {
        const int FaultEvery = 50;

        public string Name => "event-forwarding";

        public string Description => "No message lost, no effect twice: confirmed resends, inbox and outbox in SQLite, under injected duplicates and crashes.";

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var count = context.Quick ? 400 : 1_500;
            var apiOrders = context.Quick ? 20 : 50;

            var guarded = await RunAsync(context, "forwarding", inbox: true, count, apiOrders, cancellationToken);
            var unguarded = await RunAsync(context, "no-inbox", inbox: false, count, apiOrders: 0, cancellationToken);

            var expected = count + apiOrders;
            return new ResultTable($"event-forwarding: inbox + outbox on SQLite ({context.Options.Transport})")
                .Add("orders sent by the producer (confirmed)", guarded.Confirmed)
                .Add("orders placed by an API handler", apiOrders)
                .Add("copies sent twice (same message id)", guarded.DuplicateSends)
                .Add("failures injected after the commit", guarded.PostCommitFailures)
                .Add("copies suppressed by the inbox", guarded.Suppressed)
                .Add("orders recorded", guarded.Recorded)
                .Add("orders recorded twice", guarded.RecordedTwice)
                .Add("events forwarded (distinct)", guarded.Forwarded)
                .Add("outbox rows left", guarded.OutboxLeft)
                .Add("outbox delivery lag p50 (ms)", guarded.LagP50)
                .Add("outbox delivery lag p99 (ms)", guarded.LagP99)
                .Add("throughput (msg/s)", guarded.Throughput)
                .Add("same faults without the inbox: recorded twice", unguarded.RecordedTwice)
                .Check("every confirmed order recorded exactly once", guarded.Recorded == expected && guarded.RecordedTwice == 0)
                .Check("every accepted order's event forwarded", guarded.Forwarded == expected)
                .Check("every injected copy suppressed by the inbox", guarded.Suppressed == guarded.DuplicateSends + guarded.PostCommitFailures)
                .Check("outbox drained after delivery", guarded.OutboxLeft == 0)
                .Check("without the inbox the same faults double effects", unguarded.RecordedTwice == unguarded.DuplicateSends + unguarded.PostCommitFailures);
        }

        sealed record Run(int Confirmed, int DuplicateSends, int PostCommitFailures, long Suppressed, int Recorded, int RecordedTwice, int Forwarded,
            int OutboxLeft, double LagP50, double LagP99, double Throughput);

        static async Task<Run> RunAsync(ShowcaseContext context, string name, bool inbox, int count, int apiOrders, CancellationToken cancellationToken)
        {
            var queue = $"showcase-forwarding-{Guid.NewGuid():N}"[..28];
            var ids = Enumerable.Range(0, count).Select(_ => NewId.NextGuid()).ToArray();
            var duplicated = Enumerable.Range(0, count).Where(i => i % FaultEvery == 5).ToHashSet();
            var crash = new FailOnceAfterCommit(Enumerable.Range(0, count).Where(i => i % FaultEvery == 25).Select(i => ids[i]).ToHashSet());
            var forwarded = new ForwardedOrders();
            var received = new ReceiveCounter();
            using var meters = new Meters();

            await using var provider = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error)
                    .AddFilter("MassTransit.Patterns", LogLevel.Error).AddFilter("Microsoft.EntityFrameworkCore", LogLevel.None))
                .AddSingleton(forwarded)
                .AddReceiveObserver(_ => received)
                .AddDbContext<ForwardingShowcaseDb>(o => o.UseSqlite(context.SqliteConnectionString(name) + ";Default Timeout=60"))
                .AddMassTransit(x =>
                {
                    x.AddEventForwarding();
                    x.AddPatternsEntityFrameworkOutbox<ForwardingShowcaseDb>();
                    x.AddConsumer<RecordOrderConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 8;
                    });
                    x.AddConsumer<OrderAcceptedConsumer>().Endpoint(e => e.Name = queue + "-accepted");
                    x.AddConfigureEndpointsCallback((registration, endpoint, cfg) =>
                    {
                        if (endpoint != queue)
                            return;
                        cfg.UseMessageRetry(r => r.Immediate(3));
                        cfg.UseFilter(crash);
                        cfg.UsePatternsEntityFrameworkOutbox<ForwardingShowcaseDb>(registration, o => o.Inbox = inbox);
                    });
                    context.UseTransport(x, (registration, cfg) =>
                    {
                        if (cfg is IRabbitMqBusFactoryConfigurator rabbit)
                            rabbit.UseEventForwarding(registration, o => o.QuorumQueues = context.Options.Cluster);
                        else
                            cfg.UseEventForwarding(registration);
                    });
                })
                .BuildServiceProvider(true);

            await using (var scope = provider.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<ForwardingShowcaseDb>();
                await db.Database.EnsureDeletedAsync(cancellationToken);
                await db.Database.EnsureCreatedAsync(cancellationToken);
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            }

            var hosted = provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>().ToList();
            foreach (var service in hosted)
                await service.StartAsync(cancellationToken);
            await provider.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(30));
            var watch = Stopwatch.StartNew();
            var confirmed = 0;
            try
            {
                var forwarder = provider.GetRequiredService<IEventForwarder>();
                var address = new Uri($"exchange:{queue}");
                await using (new Progress($"{name}: orders sent", count, () => Volatile.Read(ref confirmed)))
                {
                    await Task.WhenAll(Enumerable.Range(0, 8).Select(async lane =>
                    {
                        for (var i = lane; i < count; i += 8)
                        {
                            await forwarder.Send(address, new PlaceOrder(ids[i], i), ids[i], null, cancellationToken);
                            if (duplicated.Contains(i))
                                await forwarder.Send(address, new PlaceOrder(ids[i], i), ids[i], null, cancellationToken);
                            Interlocked.Increment(ref confirmed);
                        }
                    }));
                }

                // An API handler: no incoming message, its event goes out with its own SaveChanges.
                for (var i = 0; i < apiOrders; i++)
                {
                    await using var scope = provider.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<ForwardingShowcaseDb>();
                    var orderId = NewId.NextGuid();
                    db.Orders.Add(new ForwardedOrderRow { OrderId = orderId, Number = -1 - i, Count = 1 });
                    await scope.ServiceProvider.GetRequiredService<IPublishEndpoint>().Publish(new OrderAccepted(orderId, -1 - i), cancellationToken);
                    await db.SaveChangesAsync(cancellationToken);
                }

                await using (new Progress($"{name}: events forwarded", count + apiOrders, () => forwarded.Distinct))
                    await WaitAsync(() => Task.FromResult(forwarded.Distinct >= count + apiOrders), cancellationToken);
                watch.Stop();
                var copies = count + duplicated.Count;
                await WaitAsync(() => Task.FromResult(received.Processed(queue) >= copies), cancellationToken);
                await WaitAsync(async () => await CountAsync(provider, db => db.Set<OutboxEntry>().CountAsync(cancellationToken)) == 0, cancellationToken);
            }
            finally
            {
                foreach (var service in Enumerable.Reverse(hosted))
                    await service.StopAsync(CancellationToken.None);
            }

            var outboxLeft = await CountAsync(provider, db => db.Set<OutboxEntry>().CountAsync(cancellationToken));
            var recorded = await CountAsync(provider, db => db.Orders.CountAsync(cancellationToken));
            var twice = await CountAsync(provider, db => db.Orders.CountAsync(o => o.Count > 1, cancellationToken));
            return new Run(confirmed, duplicated.Count, crash.Count, meters.Suppressed, recorded, twice, forwarded.Distinct, outboxLeft,
                meters.LagPercentile(50), meters.LagPercentile(99), (count + apiOrders) / watch.Elapsed.TotalSeconds);
        }

        static async Task<int> CountAsync(IServiceProvider provider, Func<ForwardingShowcaseDb, Task<int>> count)
        {
            await using var scope = provider.CreateAsyncScope();
            return await count(scope.ServiceProvider.GetRequiredService<ForwardingShowcaseDb>());
        }

        static async Task WaitAsync(Func<Task<bool>> condition, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            while (!await condition())
            {
                if (deadline.Elapsed > TimeSpan.FromMinutes(2))
                    throw new TimeoutException("the event forwarding scenario did not finish within two minutes");
                await Task.Delay(50, cancellationToken);
            }
        }

        sealed class RecordOrderConsumer(ForwardingShowcaseDb db) : IConsumer<PlaceOrder>
        {
            public async Task Consume(ConsumeContext<PlaceOrder> context)
            {
                var order = await db.Orders.FindAsync([context.Message.OrderId], context.CancellationToken);
                if (order is null)
                    db.Orders.Add(new ForwardedOrderRow { OrderId = context.Message.OrderId, Number = context.Message.Number, Count = 1 });
                else
                    order.Count++;
                await db.SaveChangesAsync(context.CancellationToken);
                await context.Publish(new OrderAccepted(context.Message.OrderId, context.Message.Number), context.CancellationToken);
            }
        }

        sealed class ForwardedOrders
        {
            readonly ConcurrentDictionary<Guid, int> _received = new();

            public int Distinct => _received.Count;

            public void Add(Guid orderId) => _received.AddOrUpdate(orderId, 1, (_, n) => n + 1);
        }

        sealed class OrderAcceptedConsumer(ForwardedOrders forwarded) : IConsumer<OrderAccepted>
        {
            public Task Consume(ConsumeContext<OrderAccepted> context)
            {
                forwarded.Add(context.Message.OrderId);
                return Task.CompletedTask;
            }
        }

        /// <summary>Throws once after the consumer's commit for chosen messages: a crash before the acknowledgement, redelivered by the retry.</summary>
        sealed class FailOnceAfterCommit(HashSet<Guid> ids) : IFilter<ConsumeContext>
        {
            readonly ConcurrentDictionary<Guid, bool> _failed = new();

            public int Count => ids.Count;

            public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
            {
                await next.Send(context);
                if (context.MessageId is { } id && ids.Contains(id) && _failed.TryAdd(id, true))
                    throw new IOException("connection lost after the commit (injected)");
            }

            public void Probe(ProbeContext context) => context.CreateFilterScope("fail-once-after-commit");
        }

        /// <summary>How many messages (every copy) each queue finished receiving.</summary>
        sealed class ReceiveCounter : IReceiveObserver
        {
            readonly ConcurrentDictionary<string, long> _received = new();

            public long Processed(string queue) => _received.TryGetValue(queue, out var n) ? n : 0;

            public Task PostReceive(ReceiveContext context)
            {
                _received.AddOrUpdate(context.InputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1], 1, (_, n) => n + 1);
                return Task.CompletedTask;
            }

            public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

            public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
                where T : class =>
                Task.CompletedTask;

            public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
                where T : class =>
                Task.CompletedTask;

            public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
        }

        /// <summary>The suppressed copies and the outbox delivery lag.</summary>
        sealed class Meters : IDisposable
        {
            readonly MeterListener _listener = new();
            readonly LongConcurrentHistogram _lag = new(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
            long _suppressed;

            public Meters()
            {
                _listener.InstrumentPublished = (i, l) =>
                {
                    if (i.Meter.Name == PatternsDiagnostics.Name && i.Name.StartsWith("masstransit.patterns.event_forwarding.", StringComparison.Ordinal))
                        l.EnableMeasurementEvents(i);
                };
                _listener.SetMeasurementEventCallback<long>((i, v, _, _) =>
                {
                    if (i.Name.EndsWith("inbox.duplicates_suppressed", StringComparison.Ordinal))
                        Interlocked.Add(ref _suppressed, v);
                });
                _listener.SetMeasurementEventCallback<double>((i, v, _, _) =>
                {
                    if (i.Name.EndsWith("outbox.delivery_lag", StringComparison.Ordinal))
                        _lag.RecordValue(Math.Max(1, (long)(v * 1000)));
                });
                _listener.Start();
            }

            public long Suppressed => Interlocked.Read(ref _suppressed);

            public double LagPercentile(double p) => _lag.TotalCount == 0 ? 0 : _lag.GetValueAtPercentile(p) / 1000.0;

            public void Dispose() => _listener.Dispose();
        }
    }

    /// <summary>The scenario's own DbContext: its orders plus the inbox, outbox and lease tables.</summary>
    public sealed class ForwardingShowcaseDb(DbContextOptions<ForwardingShowcaseDb> options) : DbContext(options)
    {
        public DbSet<ForwardedOrderRow> Orders => Set<ForwardedOrderRow>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.Entity<ForwardedOrderRow>().HasKey(o => o.OrderId);
            modelBuilder.Entity<ForwardedOrderRow>().Property(o => o.OrderId).ValueGeneratedNever();
            modelBuilder.AddEventForwardingEntities();
        }
    }

    /// <summary>An order the scenario's consumer recorded; <see cref="Count"/> 2 means it was applied twice.</summary>
    public sealed class ForwardedOrderRow
    {
        public Guid OrderId { get; set; }
        public int Number { get; set; }
        public int Count { get; set; }
    }
}
