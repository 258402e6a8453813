using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Tests.Multibroker;

using Messages;

public class MultibrokerFacadeTests
{
    static readonly Uri Orders = MultibrokerKit.Orders;

    [Fact]
    public async Task Consumers_registered_once_run_on_every_broker_and_round_robin_sends_each_message_to_exactly_one()
    {
        await using var kit = await MultibrokerKit.StartAsync(3);
        var endpoint = await kit.Multibroker.GetSendEndpoint(Orders);
        const int count = 300;
        for (var i = 0; i < count; i++)
            await endpoint.Send(new Order("c" + i, i), TestContext.Current.CancellationToken);

        await Eventually.True(() => kit.Recorder.Orders.Count >= count, MultibrokerKit.Timeout,
            "every order consumed: " + string.Join(", ", kit.Multibroker.Brokers.Select(b => $"{b.Name} sent {b.Sent} received {b.Received} {b.State}")));
        var seen = kit.Recorder.Orders;
        Assert.Equal(count, seen.Count);
        Assert.Equal(count, seen.Select(s => s.Number).Distinct().Count());
        foreach (var broker in new[] { "b0", "b1", "b2" })
            Assert.Equal(count / 3, seen.Count(s => s.Broker == broker));
    }
}
