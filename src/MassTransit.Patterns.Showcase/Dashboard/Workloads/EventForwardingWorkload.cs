using MassTransit.Patterns.Showcase.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>An order the event forwarding workload records once (its inbox) and forwards as <see cref="ForwardedOrderAccepted"/> (its outbox).</summary>
public record ForwardedOrderPlaced(Guid OrderId, int Number);

/// <summary>The event the order's consumer publishes through the outbox.</summary>
public record ForwardedOrderAccepted(Guid OrderId, int Number);

/// <summary>
/// Event forwarding: orders consumed inside one SQLite transaction (the showcase's work folder) with their inbox row and the
/// outbox row of the event they forward, delivered after commit by the outbox's delivery service. Two orders a second,
/// and every 20 s a burst of 300 that fills the outbox for a moment (backlog, oldest age, delivery lag). Every 25th order
/// is sent twice with one message id (a resend after a lost confirm): the inbox suppresses the copy.
/// </summary>
public sealed class EventForwardingWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-event-forwarding-orders";
    public const string AcceptedQueue = "showcase-event-forwarding-accepted";

    public string Name => "event-forwarding";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        services.AddDbContext<EventForwardingDashboardDb>(o => o.UseSqlite(context.SqliteConnectionString("event-forwarding") + ";Default Timeout=60"));
        services.AddHostedService<OrderProducer>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context)
    {
        x.AddPatternsEntityFrameworkOutbox<EventForwardingDashboardDb>(o => o.DeliveryInterval = TimeSpan.FromSeconds(1));
        x.AddConsumer<OrderConsumer>().Endpoint(e =>
        {
            e.Name = Queue;
            e.ConcurrentMessageLimit = 4;
        });
        x.AddConsumer<OrderAcceptedConsumer>().Endpoint(e => e.Name = AcceptedQueue);
    }

    public void ConfigureEndpoint(IRegistrationContext context, string queueName, IReceiveEndpointConfigurator cfg)
    {
        if (queueName == Queue)
            cfg.UsePatternsEntityFrameworkOutbox<EventForwardingDashboardDb>(context);
    }

    public async Task PrepareAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EventForwardingDashboardDb>();
        await db.Database.EnsureCreatedAsync(cancellationToken);
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
    }

    /// <summary>The workload's DbContext: its orders plus the inbox, outbox and lease tables.</summary>
    public sealed class EventForwardingDashboardDb(DbContextOptions<EventForwardingDashboardDb> options) : DbContext(options)
    {
        public DbSet<OrderRow> Orders => Set<OrderRow>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.Entity<OrderRow>().HasKey(o => o.OrderId);
            modelBuilder.Entity<OrderRow>().Property(o => o.OrderId).ValueGeneratedNever();
            modelBuilder.AddEventForwardingEntities();
        }
    }

    /// <summary>An order recorded once.</summary>
    public sealed class OrderRow
    {
        public Guid OrderId { get; set; }

        public int Number { get; set; }
    }

    public sealed class OrderConsumer(EventForwardingDashboardDb db) : IConsumer<ForwardedOrderPlaced>
    {
        public async Task Consume(ConsumeContext<ForwardedOrderPlaced> context)
        {
            db.Orders.Add(new OrderRow { OrderId = context.Message.OrderId, Number = context.Message.Number });
            await db.SaveChangesAsync(context.CancellationToken);
            await context.Publish(new ForwardedOrderAccepted(context.Message.OrderId, context.Message.Number), context.CancellationToken);
        }
    }

    public sealed class OrderAcceptedConsumer : IConsumer<ForwardedOrderAccepted>
    {
        public Task Consume(ConsumeContext<ForwardedOrderAccepted> context) => Task.CompletedTask;
    }

    /// <summary>Two orders a second, a burst of 300 every 20 s, every 25th order twice under one message id.</summary>
    public sealed class OrderProducer(IBus bus, TimeProvider time, IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken executeToken)
        {
            // Stops as soon as the app stops, before the bus does (hosted services stop in reverse order: the bus may go first).
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(executeToken, lifetime.ApplicationStopping);
            var stoppingToken = stopping.Token;
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"queue:{Queue}"));
                var n = 0;
                async Task Send()
                {
                    var order = new ForwardedOrderPlaced(NewId.NextGuid(), n);
                    var id = NewId.NextGuid();
                    await endpoint.Send(order, c => c.MessageId = id, stoppingToken);
                    if (n % 25 == 24)
                        await endpoint.Send(order, c => c.MessageId = id, stoppingToken);
                    n++;
                }

                for (var tick = 0; !stoppingToken.IsCancellationRequested; tick++)
                {
                    if (tick % 40 == 5)
                        for (var i = 0; i < 300; i++)
                            await Send();
                    await Send();
                    await Task.Delay(TimeSpan.FromMilliseconds(500), time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
