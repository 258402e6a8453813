using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>
/// A copy the inbox suppresses is normal operation: it must not log an error (EF Core logs every
/// failed command at Error level, so the claim must not fail on a duplicate key).
/// </summary>
[Collection(ForwardingMetrics.Collection)]
public sealed class InboxLoggingTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_suppressed_duplicate_logs_no_error_and_the_effect_is_applied_once(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database, configureServices: CapturedLogs.Use);
        var effectId = NewId.NextGuid();
        var messageId = NewId.NextGuid();
        var mark = CapturedLogs.Instance.Mark();

        await rig.SendAsync(new ApplyEffect(effectId), messageId);
        await Eventually.True(async () => (await rig.EffectAsync(effectId))?.Count == 1, Wait, "the first copy applies the effect");
        await rig.SendAsync(new ApplyEffect(effectId), messageId);
        await Eventually.True(() => rig.Received.Count(messageId, "consumed") == 2, Wait, "both copies are acknowledged as consumed");

        var entries = CapturedLogs.Instance.Since(mark);
        Assert.Equal(1, metrics.Sum("inbox.duplicates_suppressed"));
        Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
        Assert.Equal(1, await rig.InboxCountAsync(messageId));
        Assert.Equal(0, rig.Received.Count(messageId, "faulted"));
        // The capture does see this bus's database commands, so no error in it means none was logged.
        Assert.Contains(entries, e => e.Category == "Microsoft.EntityFrameworkCore.Database.Command" && e.Message.Contains("ForwardingInbox"));
        var errors = entries.Where(e => e.Level >= LogLevel.Error).Select(e => e.ToString()).ToList();
        Assert.True(errors.Count == 0, "errors logged while a duplicate was suppressed:\n" + string.Join("\n", errors));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Concurrent_copies_wait_on_the_key_and_are_suppressed_without_an_error(Store store)
    {
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database, configureServices: CapturedLogs.Use);
        var effectId = NewId.NextGuid();
        var messageId = NewId.NextGuid();
        const int copies = 10;
        var mark = CapturedLogs.Instance.Mark();

        await Task.WhenAll(Enumerable.Range(0, copies).Select(_ => rig.SendAsync(new ApplyEffect(effectId), messageId)));
        await Eventually.True(() => rig.Received.Count(messageId, "consumed") == copies, Wait, "every copy is acknowledged");

        var entries = CapturedLogs.Instance.Since(mark);
        Assert.Equal(copies - 1, metrics.Sum("inbox.duplicates_suppressed"));
        Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
        Assert.Equal(0, rig.Received.Count(messageId, "faulted"));
        var errors = entries.Where(e => e.Level >= LogLevel.Error).Select(e => e.ToString()).ToList();
        Assert.True(errors.Count == 0, "errors logged while concurrent copies were suppressed:\n" + string.Join("\n", errors));
    }
}
