using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>The inbox: a message consumed once has its effect once, whatever copies of it arrive later.</summary>
/// <remarks>In one collection with <see cref="OutboxTests"/>: both record on the process-wide meter that the tests read.</remarks>
[Collection(ForwardingMetrics.Collection)]
public sealed class InboxTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_second_copy_of_a_consumed_message_is_acknowledged_without_a_second_effect(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database);
        var effectId = NewId.NextGuid();
        var messageId = NewId.NextGuid();

        await rig.SendAsync(new ApplyEffect(effectId), messageId);
        await Eventually.True(async () => (await rig.EffectAsync(effectId))?.Count == 1, Wait, "the first copy applies the effect");
        await rig.SendAsync(new ApplyEffect(effectId), messageId);

        await Eventually.True(() => rig.Received.Count(messageId, "consumed") == 2, Wait, "both copies are acknowledged as consumed");
        Assert.Equal(1, metrics.Sum("inbox.duplicates_suppressed"));
        Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
        Assert.Equal(1, await rig.InboxCountAsync(messageId));
        Assert.Equal(0, rig.Received.Count(messageId, "faulted"));
        Assert.Equal(0, rig.Received.Count("skipped"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_failure_between_commit_and_acknowledgement_is_redelivered_and_suppressed(Store store)
    {
        using var metrics = new ForwardingMetrics();
        var messageId = NewId.NextGuid();
        var crash = new FailAfterCommitFilter(new HashSet<Guid> { messageId });
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database, beforeConsumers: cfg =>
        {
            cfg.UseMessageRetry(r => r.Immediate(3));
            cfg.UseFilter(crash);
        });
        var effectId = NewId.NextGuid();

        await rig.SendAsync(new ApplyEffect(effectId, Forward: 2), messageId);

        // The in-process retry shares the receive context, which the first attempt already marked consumed.
        await Eventually.True(() => metrics.Sum("inbox.duplicates_suppressed") == 1, Wait, "the retry after the failure finds the message consumed");
        await Eventually.True(() => rig.Forwarded.For(effectId).Count >= 2, Wait, "the forwarded events arrive");
        Assert.Equal(1, crash.Failures);
        Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "the outbox is emptied");
        Assert.Equal([0, 1], rig.Forwarded.For(effectId).Select(f => f.Index));
        Assert.Equal(0, rig.Received.Count(messageId, "faulted"));
        Assert.Equal(0, rig.Received.Count("skipped"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Concurrent_copies_of_one_message_apply_it_once(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database, beforeConsumers: cfg => cfg.UseMessageRetry(r => r.Immediate(5)));
        var effectId = NewId.NextGuid();
        var messageId = NewId.NextGuid();
        const int copies = 10;

        await Task.WhenAll(Enumerable.Range(0, copies).Select(_ => rig.SendAsync(new ApplyEffect(effectId, Forward: 1), messageId)));

        await Eventually.True(() => rig.Received.Count(messageId, "consumed") == copies, Wait, "every copy is acknowledged");
        Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
        Assert.Equal(copies - 1, metrics.Sum("inbox.duplicates_suppressed"));
        await Eventually.True(() => rig.Forwarded.For(effectId).Count >= 1, Wait, "the one forwarded event arrives");
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "the outbox is emptied");
        Assert.Single(rig.Forwarded.For(effectId));
    }

    [Fact]
    public async Task Without_the_inbox_a_second_copy_applies_the_effect_again()
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(Store.Sqlite);
        await using var rig = await ForwardingRig.StartAsync(database, endpoint: o => o.Inbox = false);
        var effectId = NewId.NextGuid();
        var messageId = NewId.NextGuid();

        await rig.SendAsync(new ApplyEffect(effectId), messageId);
        await Eventually.True(async () => (await rig.EffectAsync(effectId))?.Count == 1, Wait, "the first copy applies");
        await rig.SendAsync(new ApplyEffect(effectId), messageId);

        await Eventually.True(async () => (await rig.EffectAsync(effectId))?.Count == 2, Wait, "the second copy applies again: this is what the inbox prevents");
        Assert.Equal(0, metrics.Sum("inbox.duplicates_suppressed"));
        Assert.Equal(0, await rig.InboxCountAsync(messageId));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_failing_consumer_commits_neither_its_writes_nor_its_inbox_row_nor_its_sends(Store store)
    {
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database);
        var failing = NewId.NextGuid();
        var failingMessage = NewId.NextGuid();
        var marker = NewId.NextGuid();

        await rig.SendAsync(new ApplyEffect(failing, Forward: 3, Fail: true), failingMessage);
        await Eventually.True(() => rig.Received.Count(failingMessage, "faulted") == 1, Wait, "the consumer faults");
        await rig.SendAsync(new ApplyEffect(marker, Forward: 1), NewId.NextGuid());
        await Eventually.True(() => rig.Forwarded.For(marker).Count == 1, Wait, "a later message's event is delivered");

        Assert.Null(await rig.EffectAsync(failing));
        Assert.Equal(0, await rig.InboxCountAsync(failingMessage));
        Assert.Empty(rig.Forwarded.For(failing));
        Assert.Equal(0, await database.Read(db => db.Set<OutboxEntry>().CountAsync(x => x.InboxMessageId == failingMessage)));
    }

    [Fact]
    public async Task Inbox_rows_older_than_the_retention_are_removed_and_recent_ones_kept()
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(Store.Sqlite);
        await using var rig = await ForwardingRig.StartAsync(database, outbox: o =>
        {
            o.InboxRetention = TimeSpan.FromHours(1);
            o.CleanupBatchSize = 7;
        });
        var consumer = NewId.NextGuid();
        await using (var db = database.Open())
        {
            for (var i = 0; i < 20; i++)
                db.Add(new InboxEntry { MessageId = NewId.NextGuid(), ConsumerId = consumer, Consumed = DateTime.UtcNow.AddHours(-2).AddMinutes(-i) });
            for (var i = 0; i < 5; i++)
                db.Add(new InboxEntry { MessageId = NewId.NextGuid(), ConsumerId = consumer, Consumed = DateTime.UtcNow.AddMinutes(-30) });
            await db.SaveChangesAsync();
        }

        var cleanup = rig.Services.GetRequiredService<PatternsInboxCleanupService<ForwardingDb>>();
        var removed = await cleanup.RemoveExpiredAsync(CancellationToken.None);

        Assert.Equal(20, removed);
        Assert.Equal(20, metrics.Sum("inbox.removed"));
        Assert.Equal(5, await database.Read(db => db.Set<InboxEntry>().CountAsync(x => x.ConsumerId == consumer)));
    }
}
