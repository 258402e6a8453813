using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.ThreadDelegate.Messages;

namespace MassTransit.Patterns.Tests.ThreadDelegate;

/// <summary>
/// One control on two endpoints with the same key held on both: Release(endpoint, key) lets go of it on that endpoint only
/// (its next message is consumed there), the other stays held (its next message goes to its error queue).
/// </summary>
public sealed class ThreadDelegateReleaseOnEndpointTests
{
    [Fact(Timeout = 60_000)]
    public async Task Releasing_a_key_on_one_endpoint_keeps_it_held_on_the_others()
    {
        const string first = "td-release-one", second = "td-release-two";
        await using var rig = await ThreadDelegateHeldKeyRig.StartAsync([first, second], workers: 2);
        var (recorder, errors, control) = (rig.Recorder, rig.Errors, rig.Control);
        var one = await rig.EndpointAsync(first);
        var two = await rig.EndpointAsync(second);

        await one.Send(new KeyedWork("K", 0, FailPermanently: true));
        await two.Send(new KeyedWork("K", 100, FailPermanently: true));
        await Eventually.True(() => control.HeldKeys.Count == 2, TimeSpan.FromSeconds(20), "K held on both endpoints");

        Assert.False(control.Release("another-queue", "K"));
        Assert.False(control.Release(first, "J"));
        Assert.True(control.Release(first, "K"));
        Assert.False(control.Release(first, "K"));
        Assert.Equal(second, Assert.Single(control.HeldKeys).Endpoint);

        await one.Send(new KeyedWork("K", 1));
        await two.Send(new KeyedWork("K", 101));
        await Eventually.True(() => recorder.Completed == 1 && errors.Arrived.Count == 3, TimeSpan.FromSeconds(20),
            $"K#1 consumed on {first} ({recorder.Completed}), K#0, K#100 and K#101 in the error queues ({errors.Arrived.Count})");
        Assert.Equal([1], recorder.CompletedOf("K"));
        Assert.Equal(new[] { 0, 100, 101 }, errors.Arrived.Select(a => a.Seq).Order());
        Assert.Equal(second, Assert.Single(control.HeldKeys).Endpoint);
    }
}
