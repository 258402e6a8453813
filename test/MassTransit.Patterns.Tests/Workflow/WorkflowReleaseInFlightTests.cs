using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// Hold by key while a release is on its way back through the endpoint: the key stays held, a message held meanwhile
/// is released only after the release came back, and the endpoint frees the key only when nothing was held since.
/// </summary>
public sealed class WorkflowReleaseInFlightTests
{
    const string Key = "k";

    [Fact]
    public async Task A_message_held_while_a_release_is_on_its_way_is_released_after_the_release_came_back()
    {
        await using var rig = await WorkflowRig.StartAsync(holdByKey: true);
        var leader = NewId.NextGuid();
        var processor = await rig.Harness.Bus.GetSendEndpoint(new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName));
        // The released copies go to a queue nobody consumes: they stay "on their way" until the test reports them back.
        await processor.Send(new WorkflowFailureReported
        {
            CorrelationId = leader,
            ExceptionType = "X",
            ExceptionMessage = "bad",
            HoldKey = Key,
            SourceAddress = new Uri("loopback://localhost/release-in-flight")
        });
        await rig.WaitForStateAsync(leader, "AwaitingPerson", "the leader waits for a person");
        var first = NewId.NextGuid();
        await processor.Send(new WorkflowMessageHeld { CorrelationId = leader, MessageId = first, Key = Key, Sequence = 1, Body = [1] });
        await Eventually.True(async () => (await rig.FindAsync(leader))?.HeldCount == 1, TimeSpan.FromSeconds(20), "the first is held");

        Assert.True((await rig.Client.DiscardAsync(leader, "ivan", "cancelled")).Accepted);
        await Eventually.True(async () => Released(await rig.FindAsync(leader)) == 1, TimeSpan.FromSeconds(20), "the first is released");

        // Held after the release: it waits behind the release on its way, not sent back at once.
        var second = NewId.NextGuid();
        await processor.Send(new WorkflowMessageHeld { CorrelationId = leader, MessageId = second, Key = Key, Sequence = 2, Body = [2] });
        await Eventually.True(async () => (await rig.FindAsync(leader))?.HeldCount == 1, TimeSpan.FromSeconds(20), "the second is held behind the release");
        Assert.Equal(1, Released(await rig.FindAsync(leader)));

        // A report for another message than the last released one changes nothing.
        await processor.Send(new WorkflowReleaseDrained { CorrelationId = leader, MessageId = second });
        await Eventually.True(async () => (await rig.FindAsync(leader))!.ReadAudit().Any(a => a.Action == "ignored"), TimeSpan.FromSeconds(20), "the wrong report is ignored");
        Assert.Equal(1, (await rig.FindAsync(leader))!.HeldCount);

        // The first came back through the endpoint: the second is released after it.
        await processor.Send(new WorkflowReleaseDrained { CorrelationId = leader, MessageId = first });
        await Eventually.True(async () => Released(await rig.FindAsync(leader)) == 2, TimeSpan.FromSeconds(20), "the second is released once the first came back");
        Assert.Equal(0, (await rig.FindAsync(leader))!.HeldCount);

        await processor.Send(new WorkflowReleaseDrained { CorrelationId = leader, MessageId = second });
        await Eventually.True(async () => (await rig.FindAsync(leader))?.HeldMessages == "[]", TimeSpan.FromSeconds(20), "nothing left once the second came back");
        Assert.Equal("Discarded", (await rig.FindAsync(leader))!.CurrentState);
        // The processor announces no release while messages were released: the endpoint frees the key when they come back.
        Assert.False(await rig.Harness.Published.Any<WorkflowKeyReleased>(m => m.Context.Message.LeaderId == leader));
    }

    [Fact]
    public void The_endpoint_frees_a_key_only_when_the_last_message_it_held_behind_the_leader_came_back()
    {
        var registry = new WorkflowHoldRegistry();
        var leader = NewId.NextGuid();
        registry.Hold("q", Key, leader);
        Assert.True(registry.ReleaseIfDrained("q", Key, leader, null), "nothing held behind it: free");

        registry.Hold("q", Key, leader);
        Guid first = NewId.NextGuid(), second = NewId.NextGuid();
        Assert.True(registry.TryHoldBehind("q", Key, first, _ => false, out var heldBy, out var s1));
        Assert.Equal(leader, heldBy);
        Assert.True(registry.TryHoldBehind("q", Key, second, _ => false, out _, out var s2));
        Assert.True(s2 > s1);
        Assert.False(registry.TryHoldBehind("q", Key, NewId.NextGuid(), id => id == leader, out _, out _), "a released copy passes");

        Assert.False(registry.ReleaseIfDrained("q", Key, leader, null), "held since: not free");
        Assert.False(registry.ReleaseIfDrained("q", Key, leader, first), "the second is still on its way");
        Assert.False(registry.ReleaseIfDrained("q", Key, NewId.NextGuid(), second), "another leader's release does not free it");
        Assert.Equal(leader, registry.LeaderOf("q", Key));
        Assert.True(registry.ReleaseIfDrained("q", Key, leader, second), "the last one held came back: free");
        Assert.Null(registry.LeaderOf("q", Key));
    }

    static int Released(WorkflowEventState? saga) => saga?.ReadAudit().Count(a => a.Action == "released") ?? 0;
}
