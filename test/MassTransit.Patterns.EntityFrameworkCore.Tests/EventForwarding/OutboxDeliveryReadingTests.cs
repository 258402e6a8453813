using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>What the operations view reads in place: the delivery service's deliveries and lag, and the running totals.</summary>
// It suppresses a copy: in the metrics collection, so that the process-wide listeners of the other tests never count it
// (InboxTests counted 10 suppressed copies of 9 once, in a fresh-clone run, while this ran beside it).
[Collection(ForwardingMetrics.Collection)]
public sealed class OutboxDeliveryReadingTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_delivery_service_counts_each_delivery_and_its_lag_and_the_totals_count_the_confirms_and_the_suppressed_copy()
    {
        await using var database = await ForwardingDatabase.CreateAsync(Store.Sqlite);
        await using var rig = await ForwardingRig.StartAsync(database);
        var delivery = Assert.Single(rig.Services.GetServices<IOutboxDelivery>());
        var totals = rig.Services.GetRequiredService<EventForwardingTotals>();
        Assert.Equal(nameof(ForwardingDb), delivery.Name);
        var empty = delivery.Read();
        Assert.Equal(0, empty.Delivered);
        Assert.Null(empty.LagP50);

        var effectId = NewId.NextGuid();
        var messageId = NewId.NextGuid();
        await rig.SendAsync(new ApplyEffect(effectId, Forward: 5), messageId);
        await Eventually.True(() => rig.Forwarded.For(effectId).Count >= 5, Wait, "the 5 forwarded events arrive");
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "the outbox is emptied");
        await rig.SendAsync(new ApplyEffect(effectId, Forward: 5), messageId);   // a copy: the inbox suppresses it
        await Eventually.True(() => rig.Received.Count(messageId, "consumed") == 2, Wait, "both copies are acknowledged as consumed");

        var reading = delivery.Read();
        Assert.Equal(5, reading.Delivered);
        Assert.Equal(0, reading.DeliveryFailures);
        Assert.True(reading.HoldsLease);
        Assert.Equal(5, reading.LagSamples);
        Assert.NotNull(reading.LagP50);
        Assert.InRange(reading.LagP50!.Value, TimeSpan.Zero, reading.LagP99!.Value);
        Assert.True(reading.LagP99 < Wait, $"lag p99 {reading.LagP99}");
        Assert.Equal(5, totals.Confirmed);
        Assert.Equal(0, totals.Unconfirmed);
        Assert.Equal(1, totals.InboxDuplicatesSuppressed);
        Assert.Equal(5, rig.Forwarded.Received.Count);
        Assert.Equal(0, rig.Received.Count("faulted"));
        Assert.Equal(0, rig.Received.Count("skipped"));
    }
}
