using System.Collections.Concurrent;

namespace MassTransit.Patterns.Dashboard.TestHost;

public record PlaceOrder(Guid OrderId, int Quantity, string? Currency);

public sealed class InvalidOrderException(string message) : Exception(message);

/// <summary>Orders processed, counted by original message id (a resubmitted copy counts for its original).</summary>
public sealed class OrderLedger
{
    public ConcurrentDictionary<Guid, int> Processed { get; } = new();

    /// <summary>When set, every order is accepted (the downstream bug that rejected them is fixed).</summary>
    public bool AcceptAll { get => Volatile.Read(ref _acceptAll); set => Volatile.Write(ref _acceptAll, value); }

    bool _acceptAll;

    public int ProcessedCount(Guid id) => Processed.TryGetValue(id, out var n) ? n : 0;
}

/// <summary>Rejects orders without a currency or with a quantity below one (handed to the workflow at once).</summary>
public sealed class OrderConsumer(OrderLedger ledger) : IConsumer<PlaceOrder>
{
    public Task Consume(ConsumeContext<PlaceOrder> context)
    {
        if (!ledger.AcceptAll && context.Message.Currency is null)
            throw new InvalidOrderException("currency missing");
        if (!ledger.AcceptAll && context.Message.Quantity < 1)
            throw new InvalidOrderException($"quantity {context.Message.Quantity}");
        var id = context.GetWorkflowOriginalMessageId() ?? context.MessageId!.Value;
        ledger.Processed.AddOrUpdate(id, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}
