using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>The transactional outbox: what a handler sends is stored with its writes and delivered after commit, in order, once per row.</summary>
[Collection(ForwardingMetrics.Collection)]
public sealed class OutboxTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Events_a_consumer_publishes_are_delivered_after_commit_in_the_order_sent_and_their_rows_removed(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database);
        var effectId = NewId.NextGuid();
        const int events = 25;

        await rig.SendAsync(new ApplyEffect(effectId, Forward: events), NewId.NextGuid());

        await Eventually.True(() => rig.Forwarded.For(effectId).Count >= events, Wait, "every forwarded event arrives");
        Assert.Equal(Enumerable.Range(0, events), rig.Forwarded.For(effectId).Select(f => f.Index));
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "delivered rows are removed");
        Assert.Equal(events, metrics.Sum("outbox.delivered"));
        Assert.Equal(events, metrics.Sum("send.confirmed"));
        Assert.True(metrics.Sum("outbox.delivery_lag") > 0, "the delivery lag is recorded");
        await Eventually.True(() => metrics.Last("outbox.backlog") == 0, Wait, "the backlog gauge returns to zero");
        Assert.Equal(0, metrics.Sum("outbox.delivery_failures"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task An_API_handler_publishes_through_the_outbox_and_only_its_SaveChanges_commits_the_event(Store store)
    {
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database);
        var abandoned = NewId.NextGuid();
        var saved = NewId.NextGuid();

        await using (var scope = rig.Services.CreateAsyncScope())
        {
            var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
            await publish.Publish(new EffectForwarded(abandoned, 0));
            // The handler fails before SaveChanges: neither its writes nor its event exist.
        }

        await using (var scope = rig.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ForwardingDb>();
            var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
            db.Effects.Add(new Effect { EffectId = saved, Count = 1 });
            await publish.Publish(new EffectForwarded(saved, 0));
            await publish.Publish(new EffectForwarded(saved, 1));
            Assert.Empty(rig.Forwarded.For(saved));
            Assert.Equal(0, await rig.OutboxCountAsync());
            await db.SaveChangesAsync();
        }

        await Eventually.True(() => rig.Forwarded.For(saved).Count >= 2, Wait, "the saved handler's events are delivered");
        Assert.Equal([0, 1], rig.Forwarded.For(saved).Select(f => f.Index));
        Assert.Empty(rig.Forwarded.For(abandoned));
        Assert.Equal(1, (await rig.EffectAsync(saved))!.Count);
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "delivered rows are removed");
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Only_the_lease_holder_delivers_and_another_instance_takes_over_when_it_stops(Store store)
    {
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var first = await ForwardingRig.StartAsync(database);
        await using var second = await ForwardingRig.StartAsync(database);
        try
        {
            await Eventually.True(() => Holder(first) || Holder(second), Wait, "one delivery service takes the lease");
            Assert.False(Holder(first) && Holder(second), "only one instance holds the lease");
            var holder = Holder(first) ? first : second;
            var standby = holder == first ? second : first;

            var batch = await PublishFromHandlerAsync(first, 30);
            await Eventually.True(() => Delivered(first, batch) + Delivered(second, batch) >= 30, Wait, "every row is delivered");
            Assert.Equal(30, Delivered(holder, batch));
            Assert.Equal(0, Delivered(standby, batch));

            await holder.Harness.Stop();
            var later = await PublishFromHandlerAsync(standby, 10);
            await Eventually.True(() => Delivered(standby, later) >= 10, Wait, "the standby takes the released lease and delivers");
            Assert.Equal(10, standby.Forwarded.For(later).Select(f => f.Index).Distinct().Count());
            Assert.Equal(0, Delivered(holder, later));
            await Eventually.True(async () => await standby.OutboxCountAsync() == 0, Wait, "the outbox is emptied");
        }
        finally
        {
            await first.DisposeAsync();
        }

        static bool Holder(ForwardingRig rig) => rig.Services.GetRequiredService<OutboxDeliveryService<ForwardingDb>>().HoldsLease;

        static int Delivered(ForwardingRig rig, Guid effectId) => rig.Forwarded.For(effectId).Count;
    }

    static async Task<Guid> PublishFromHandlerAsync(ForwardingRig rig, int count)
    {
        var effectId = NewId.NextGuid();
        await using var scope = rig.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ForwardingDb>();
        var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
        for (var i = 0; i < count; i++)
            await publish.Publish(new EffectForwarded(effectId, i));
        await db.SaveChangesAsync();
        return effectId;
    }
}
