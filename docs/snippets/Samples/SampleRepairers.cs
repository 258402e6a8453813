using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Docs.Snippets;

/// <summary>An order without a currency is in the shop's currency.</summary>
public sealed class DefaultCurrencyRepairer : IMessageRepairer<PlaceOrder>
{
    public Task<RepairResult<PlaceOrder>> Repair(MessageRepairContext<PlaceOrder> context, CancellationToken cancellationToken) =>
        Task.FromResult(context.Message.Currency is null
            ? RepairResult<PlaceOrder>.Repaired(context.Message with { Currency = "EUR" }, "default currency")
            : RepairResult<PlaceOrder>.CannotRepair("currency present"));
}

/// <summary>A negative weight is a sign error upstream: flip it. Zero cannot be guessed: a person decides.</summary>
public sealed class WeightRepairer : IMessageRepairer<ShipParcel>
{
    public Task<RepairResult<ShipParcel>> Repair(MessageRepairContext<ShipParcel> context, CancellationToken cancellationToken) =>
        Task.FromResult(context.Message.Weight < 0
            ? RepairResult<ShipParcel>.Repaired(context.Message with { Weight = -context.Message.Weight }, "sign flipped")
            : RepairResult<ShipParcel>.CannotRepair("no weight"));
}
