using MassTransit.Patterns.Multibroker;

namespace MassTransit.Patterns.Tests.Multibroker;

using Messages;

/// <summary>A broker whose bus never starts (its host cannot be reached).</summary>
public sealed class NeverStartingTransport : MultibrokerTransport
{
    public override IBusControl CreateBus(string brokerName, IBusRegistrationContext context, Action<IBusRegistrationContext, IBusFactoryConfigurator> configure) =>
        throw new InvalidOperationException("connection refused");
}

public class MultibrokerNoAttemptTests
{
    [Fact]
    public async Task With_no_broker_started_the_send_says_no_attempt_was_made_and_when_each_broker_is_tried_next()
    {
        await using var kit = await MultibrokerKit.StartAsync(0, x =>
        {
            x.Broker("north", new NeverStartingTransport()).Broker("south", new NeverStartingTransport());
            x.Options.MinimumBrokersAtStart = 0;
            x.Options.RestartInterval = TimeSpan.FromSeconds(30);
        });
        await MassTransit.Patterns.Testing.Eventually.True(() => kit.Multibroker.Brokers.All(b => b.LastFailure is not null), MultibrokerKit.Timeout, "both brokers failed their first start");

        var e = await Assert.ThrowsAsync<MultibrokerSendException>(() =>
            kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", 1), cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(0, e.Attempts);
        Assert.Null(e.InnerException);
        Assert.Contains("No attempt was made", e.Message);
        Assert.DoesNotContain("may still have reached", e.Message);
        foreach (var broker in new[] { "north", "south" })
            Assert.Matches($@"{broker}: Starting \(not started: connection refused; next start attempt in (29|30)\.\d s\)", e.Message);
    }
}
