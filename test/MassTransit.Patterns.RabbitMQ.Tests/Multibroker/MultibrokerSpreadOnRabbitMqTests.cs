using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Multibroker;

using Messages;

/// <summary>
/// The spread on three real, independent RabbitMQ nodes (the shared ones from build/services.sh
/// --rabbit-nodes 3, with a queue of this test's own, deleted at the end): each message reaches one
/// broker only, and the shares follow the strategy.
/// </summary>
public sealed class MultibrokerSpreadOnRabbitMqTests
{
    static readonly TimeSpan Drain = TimeSpan.FromSeconds(40);

    static TestBroker[] SharedBrokers()
    {
        Assert.True(ServiceEnvironment.RabbitAmqpPorts.Length >= 3, "needs three nodes: eval \"$(build/services.sh start --rabbit-nodes 3)\"");
        return [TestBroker.Shared(0), TestBroker.Shared(1), TestBroker.Shared(2)];
    }

    static async Task SendAll(MultibrokerRabbitKit kit, int count, Func<int, string> customer)
    {
        var endpoint = await kit.Multibroker.GetSendEndpoint(kit.Address);
        var batch = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            batch.Add(endpoint.Send(new Shipment(customer(i), i)));
            if (batch.Count == 64)
            {
                await Task.WhenAll(batch);
                batch.Clear();
            }
        }
        await Task.WhenAll(batch);
    }

    [Fact]
    public async Task Round_robin_over_three_brokers_consumes_each_message_once_and_gives_each_broker_a_third()
    {
        await using var kit = await MultibrokerRabbitKit.StartAsync(SharedBrokers());
        const int count = 900;
        await SendAll(kit, count, i => "c" + i);
        await Eventually.True(() => kit.Log.Count >= count, Drain, $"all {count} consumed");

        var consumed = kit.Log.Consumed;
        Assert.Equal(count, consumed.Count);
        Assert.Equal(count, consumed.Select(c => c.Id).Distinct().Count());
        foreach (var broker in kit.Brokers)
        {
            // Concurrent sends each take the next turn: the shares are exact.
            Assert.Equal(count / 3, consumed.Count(c => c.Port == broker.Port));
            Assert.Equal(count / 3, kit.Multibroker.Brokers.Single(b => b.Name == broker.Name).Sent);
        }
        await kit.Account(Expect.Exactly(count)).Sent(count, "shipments").AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Weighted_1_2_3_gives_each_broker_its_share_and_key_hash_keeps_every_key_on_one_broker_in_order()
    {
        const int count = 1_200;
        await using (var weighted = await MultibrokerRabbitKit.StartAsync(SharedBrokers(), x => x.Strategy(MultibrokerStrategy.Weighted), weights: [1, 2, 3]))
        {
            await SendAll(weighted, count, i => "c" + i);
            await Eventually.True(() => weighted.Log.Count >= count, Drain, $"all {count} consumed (weighted)");
            var consumed = weighted.Log.Consumed;
            Assert.Equal(count, consumed.Select(c => c.Id).Distinct().Count());
            // Smooth weighted round-robin is exact over every window of sum(weights) = 6 picks.
            Assert.Equal(new[] { count / 6, count / 3, count / 2 }, weighted.Brokers.Select(b => consumed.Count(c => c.Port == b.Port)).ToArray());
            await weighted.Account(Expect.Exactly(count)).Sent(count, "shipments").AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
        }

        await using var keyed = await MultibrokerRabbitKit.StartAsync(SharedBrokers(),
            x => x.Strategy(MultibrokerStrategy.KeyHash).Key<Shipment>(m => m.Customer), concurrency: 1);
        const int keys = 300;
        var endpoint = await keyed.Multibroker.GetSendEndpoint(keyed.Address);
        // Per-key order is the order of confirmed sends: each key's sends are sequential here, keys in parallel.
        await Task.WhenAll(Enumerable.Range(0, keys).Select(async k =>
        {
            for (var n = 0; n < count / keys; n++)
                await endpoint.Send(new Shipment("k" + k, n));
        }));
        await Eventually.True(() => keyed.Log.Count >= count, Drain, $"all {count} consumed (key hash)");
        var byKey = keyed.Log.Consumed.GroupBy(c => c.Customer).ToList();
        Assert.Equal(keys, byKey.Count);
        foreach (var key in byKey)
        {
            Assert.Single(key.Select(c => c.Port).Distinct());
            Assert.Equal(Enumerable.Range(0, count / keys), key.Select(c => c.Number));
        }
        // Keys are spread by the hash: each broker gets a third of them within 20% (300 keys: the exact split is fixed by the hash).
        foreach (var broker in keyed.Brokers)
        {
            var share = byKey.Count(k => k.First().Port == broker.Port);
            Assert.InRange(share, keys / 3 * 0.8, keys / 3 * 1.2);
        }
        await keyed.Account(Expect.Exactly(count)).Sent(count, "shipments").AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
    }
}
