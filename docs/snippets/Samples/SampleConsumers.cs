using System.Collections.Concurrent;

namespace MassTransit.Patterns.Docs.Snippets;

public sealed class PlaceOrderConsumer : IConsumer<PlaceOrder>
{
    public Task Consume(ConsumeContext<PlaceOrder> context) =>
        context.Message.Amount < 0 ? throw new ValidationException("negative amount") : Task.CompletedTask;
}

public sealed class OrderConsumer : IConsumer<PlaceOrder>
{
    public Task Consume(ConsumeContext<PlaceOrder> context) => Task.CompletedTask;
}

public sealed class DepositConsumer : IConsumer<Deposit>
{
    public Task Consume(ConsumeContext<Deposit> context) => Task.CompletedTask;
}

public sealed class Shipments
{
    public ConcurrentQueue<ShipParcel> Shipped { get; } = new();
}

public sealed class ShipParcelConsumer(Shipments shipments) : IConsumer<ShipParcel>
{
    public Task Consume(ConsumeContext<ShipParcel> context)
    {
        if (context.Message.Weight <= 0)
            throw new InvalidWeightException($"weight {context.Message.Weight}");
        shipments.Shipped.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}
