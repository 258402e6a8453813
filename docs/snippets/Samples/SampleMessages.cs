namespace MassTransit.Patterns.Docs.Snippets;

// The application types the snippets use (not shown in the docs).

public record PlaceOrder(Guid OrderId, string CustomerId, decimal Amount, string? Currency, bool Express);

public record OrderPlaced(Guid OrderId, string CustomerId);

public record Deposit(string AccountId, decimal Amount);

public record FeatureFlag(bool Enabled);

public record ShipParcel(string OrderId, int Weight);

public sealed class ValidationException(string message) : Exception(message);

public sealed class InvalidWeightException(string message) : Exception(message);

/// <summary>A row of the application's own table.</summary>
public sealed class Order
{
    public Guid Id { get; set; }
    public string CustomerId { get; set; } = "";
}
