using MassTransit;

// A newcomer's order service: four patterns, configured through `using MassTransit;` alone.
var builder = Host.CreateApplicationBuilder(args);

// Queue depth (read from RabbitMQ) feeds the supervisor and the flow monitor.
builder.Services.AddQueueDepthMonitor();
builder.Services.AddRabbitMqQueueDepthProbe(probe => probe.HostName = "localhost");

// Producer control flow, monitor side: "orders" is slowed past 1000 waiting messages, released below 200.
builder.Services.AddFlowMonitor(flow => flow.Watch("orders", highWatermark: 1000, lowWatermark: 200).Consumes<PlaceOrder>());

builder.Services.AddDbContext<OrdersDb>();

builder.Services.AddMassTransit(x =>
{
    x.AddConsumer<PlaceOrderConsumer>().Endpoint(e => e.Name = "orders");
    x.AddConsumer<InvoiceConsumer>().ExcludeFromConfigureEndpoints();
    x.AddConsumer<ShipOrderConsumer>().ExcludeFromConfigureEndpoints();

    // Workflow event: the repair processor, its state kept with EF Core.
    x.AddWorkflowEventProcessor()
        .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<OrdersDb>());

    x.UsingRabbitMq((context, cfg) =>
    {
        cfg.Host("localhost");

        // Ambulance lane: express orders overtake the backlog of "orders".
        cfg.UseAmbulanceLane(context, lane =>
        {
            lane.Urgent<PlaceOrder>(m => m.Express);
            lane.Endpoint("orders");
        });

        // Producer control flow, producer side: sends to a slowed queue are rate-limited, to a stopped one held.
        cfg.UseProducerControlFlow(context, flow => flow.MaxWait = TimeSpan.FromSeconds(10));

        // Supervisor: the invoices endpoint's consumers follow its queue depth.
        cfg.ReceiveEndpoint("invoices", e =>
        {
            e.UseSupervisor(context, supervisor => supervisor.MaxConsumers = 8);
            e.ConfigureConsumer<InvoiceConsumer>(context);
        });

        // Workflow event: shipping failures that retrying cannot fix go to the repair processor, not to _error.
        cfg.ReceiveEndpoint("shipping", e =>
        {
            e.UseWorkflowEvent(context, workflow => workflow.Delegate<InvalidOperationException>());
            e.ConfigureConsumer<ShipOrderConsumer>(context);
        });

        cfg.ConfigureEndpoints(context);
    });
});

await builder.Build().RunAsync();

public sealed record PlaceOrder(Guid OrderId, bool Express);

public sealed record InvoiceOrder(Guid OrderId);

public sealed record ShipOrder(Guid OrderId);

public sealed class PlaceOrderConsumer : IConsumer<PlaceOrder>
{
    public async Task Consume(ConsumeContext<PlaceOrder> context)
    {
        await context.Publish(new InvoiceOrder(context.Message.OrderId));
        await context.Publish(new ShipOrder(context.Message.OrderId));
    }
}

public sealed class InvoiceConsumer : IConsumer<InvoiceOrder>
{
    public Task Consume(ConsumeContext<InvoiceOrder> context) => Task.CompletedTask;
}

public sealed class ShipOrderConsumer : IConsumer<ShipOrder>
{
    public Task Consume(ConsumeContext<ShipOrder> context) => Task.CompletedTask;
}

// EF Core's own types are EF Core's: named in full, so the app still needs no using but MassTransit.
public sealed class OrdersDb(Microsoft.EntityFrameworkCore.DbContextOptions<OrdersDb> options) : Microsoft.EntityFrameworkCore.DbContext(options)
{
    protected override void OnModelCreating(Microsoft.EntityFrameworkCore.ModelBuilder modelBuilder) =>
        modelBuilder.AddWorkflowEventEntities();
}
