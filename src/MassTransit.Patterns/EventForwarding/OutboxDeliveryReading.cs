namespace MassTransit.Patterns.EventForwarding;

/// <summary>An outbox delivery service's figures at a moment (see <see cref="IOutboxDelivery"/>).</summary>
/// <param name="Delivered">Messages this process delivered (confirmed by the broker) since it started.</param>
/// <param name="DeliveryFailures">Deliveries not confirmed after every resend (the row stays and is tried again) since it started.</param>
/// <param name="HoldsLease">Whether this process held the delivery lease at its last attempt (only the holder delivers).</param>
/// <param name="LagSamples">How many recent deliveries the lag percentiles cover (the last ones, at most a fixed window).</param>
/// <param name="LagP50">Median time from the row's creation to the broker's confirm over those deliveries; null when none.</param>
/// <param name="LagP99">99th percentile of that time; null when none.</param>
public sealed record OutboxDeliveryReading(long Delivered, long DeliveryFailures, bool HoldsLease, int LagSamples, TimeSpan? LagP50, TimeSpan? LagP99);
