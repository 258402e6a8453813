namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>A key held after a failure.</summary>
/// <param name="Endpoint">The endpoint (queue) where it is held.</param>
/// <param name="Key">The key.</param>
/// <param name="FailedMessageId">The message whose failure holds it.</param>
/// <param name="Since">When it was held.</param>
public sealed record HeldKey(string Endpoint, string Key, Guid? FailedMessageId, DateTimeOffset Since);
