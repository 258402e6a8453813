using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>The inbox: a message consumed once has its effect once, whatever copies of it arrive later.</summary>
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

        await Eventually.True(() => metrics.Sum("inbox.duplicates_suppressed") >= 1, Wait, "the second copy is suppressed");
        Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
        Assert.Equal(1, await rig.InboxCountAsync(messageId));
        await Eventually.True(() => rig.Received.Count(messageId, "consumed") == 2, Wait, "both copies are acknowledged as consumed");
        Assert.Equal(0, rig.Received.Count(messageId, "faulted"));
        Assert.Equal(0, rig.Received.Count("skipped"));
    }
}
