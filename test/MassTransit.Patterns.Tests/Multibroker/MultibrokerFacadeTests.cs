using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

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

public class MultibrokerFailoverTests
{
    static readonly Uri Orders = MultibrokerKit.Orders;

    [Fact]
    public async Task A_broker_that_goes_down_leaves_the_rotation_its_sends_fail_over_under_the_same_message_id_and_it_rejoins_when_up()
    {
        // Health is checked only when the test says so: the outage must be found by a send, not by a periodic check racing it.
        await using var kit = await MultibrokerKit.StartAsync(3, x => x.Options.HealthCheckInterval = TimeSpan.FromHours(1));
        var ct = TestContext.Current.CancellationToken;
        kit.Transports[1].Outage.Down();   // no health check yet: the next send to b1 fails and fails over

        var ids = new List<Guid>();
        for (var i = 0; i < 30; i++)
        {
            var id = NewId.NextGuid();
            ids.Add(id);
            var confirmedBy = await kit.Multibroker.SendAsync(Orders, new Order("c", i), pipe: Pipe.Execute<SendContext<Order>>(c => c.MessageId = id), cancellationToken: ct);
            Assert.NotEqual("b1", confirmedBy.Name);
        }
        await Eventually.True(() => kit.Recorder.Orders.Count >= 30, MultibrokerKit.Timeout, "30 orders consumed");
        var seen = kit.Recorder.Orders;
        Assert.Equal(ids.Order(), seen.Select(s => s.MessageId!.Value).Order());   // each once, under the id the caller gave
        Assert.DoesNotContain(seen, s => s.Broker == "b1");
        var failedOver = Assert.Single(seen, s => s.Failover > 0);                 // the one send that hit b1 first
        Assert.Equal(1, failedOver.Failover);
        Assert.Equal(1, kit.Broker(1).SendFailures);
        Assert.NotEqual(BrokerState.Healthy, kit.Broker(1).State);

        kit.Transports[1].Outage.Up();
        await Eventually.True(() =>
        {
            kit.CheckHealth();
            return kit.Broker(1).State == BrokerState.Healthy;
        }, MultibrokerKit.Timeout, "b1 rejoins once its outage ends");
        for (var i = 0; i < 30; i++)
            await kit.Multibroker.SendAsync(Orders, new Order("c", 100 + i), cancellationToken: ct);
        await Eventually.True(() => kit.Recorder.Orders.Count >= 60, MultibrokerKit.Timeout, "60 orders consumed");
        Assert.Equal(10, kit.Recorder.Orders.Count(s => s.Number >= 100 && s.Broker == "b1"));
    }

    [Fact]
    public async Task With_every_broker_down_the_send_fails_naming_them_after_trying_each_once()
    {
        // Health is checked only when the test says so: the outage must be found by the sends, not by a periodic check racing them.
        await using var kit = await MultibrokerKit.StartAsync(2, x => x.Options.HealthCheckInterval = TimeSpan.FromHours(1));
        foreach (var t in kit.Transports)
            t.Outage.Down();
        var e = await Assert.ThrowsAsync<MultibrokerSendException>(() =>
            kit.Multibroker.SendAsync(Orders, new Order("c", 1), cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(2, e.Attempts);
        Assert.Contains("b0", e.Message);
        Assert.Contains("b1", e.Message);
        Assert.IsType<InMemoryBrokerDownException>(e.InnerException);
    }

    [Fact]
    public async Task Key_hash_keeps_each_key_on_one_broker_in_order_and_on_failover_moves_only_the_dead_brokers_keys()
    {
        await using var kit = await MultibrokerKit.StartAsync(3, x => x.Strategy(MultibrokerStrategy.KeyHash).Key<Order>(m => m.Customer));
        var ct = TestContext.Current.CancellationToken;
        var endpoint = await kit.Multibroker.GetSendEndpoint(Orders);
        var keys = Enumerable.Range(0, 60).Select(k => "customer-" + k).ToArray();

        async Task<Dictionary<string, string>> Round(int round)
        {
            var before = kit.Recorder.Orders.Count;
            foreach (var key in keys)
                for (var n = 0; n < 3; n++)
                    await endpoint.Send(new Order(key, round * 10 + n), ct);
            await Eventually.True(() => kit.Recorder.Orders.Count >= before + keys.Length * 3, MultibrokerKit.Timeout, $"round {round} consumed");
            var seen = kit.Recorder.Orders.Where(s => s.Number / 10 == round).GroupBy(s => s.Customer).ToList();
            foreach (var key in seen)
            {
                Assert.Single(key.Select(s => s.Broker).Distinct());
                Assert.Equal([round * 10, round * 10 + 1, round * 10 + 2], key.Select(s => s.Number));
            }
            return seen.ToDictionary(g => g.Key, g => g.First().Broker);
        }

        var healthy = await Round(0);
        Assert.Equal(3, healthy.Values.Distinct().Count());
        kit.Transports[1].Outage.Down();
        kit.CheckHealth();
        var degraded = await Round(1);
        foreach (var key in keys)
            if (healthy[key] == "b1")
                Assert.NotEqual("b1", degraded[key]);
            else
                Assert.Equal(healthy[key], degraded[key]);
        kit.Transports[1].Outage.Up();
        // Back once its bus reports connected, or, if a periodic probe found the outage meanwhile, once a probe answers.
        await Eventually.True(() =>
        {
            kit.CheckHealth();
            return kit.Broker(1).State == BrokerState.Healthy;
        }, MultibrokerKit.Timeout, "b1 rejoins once its outage ends");
        Assert.Equal(healthy, await Round(2));
    }

    [Fact]
    public async Task Two_copies_of_one_message_id_through_two_brokers_run_the_consumer_once()
    {
        await using var kit = await MultibrokerKit.StartAsync(2);
        var ct = TestContext.Current.CancellationToken;
        var id = NewId.NextGuid();
        // What a failed-over send can leave: the retry (marked) on b1, and later the original on b0 when it comes back.
        var retry = await kit.Broker(1).Bus!.GetSendEndpoint(Orders);
        await retry.Send(new Order("c", 1), c =>
        {
            c.MessageId = id;
            c.Headers.Set("MT-Multibroker-Failover", 1);
        }, ct);
        await Eventually.True(() => kit.Recorder.Orders.Count == 1, MultibrokerKit.Timeout, "the failed-over copy is consumed");
        var original = await kit.Broker(0).Bus!.GetSendEndpoint(Orders);
        await original.Send(new Order("c", 1), c => c.MessageId = id, ct);
        await Eventually.True(() => kit.Multibroker.DuplicatesSuppressed == 1, MultibrokerKit.Timeout, "the original copy is suppressed");
        Assert.Single(kit.Recorder.Orders);
        // Received is counted when the receive completes, just after the suppression was counted.
        await Eventually.True(() => kit.Broker(0).Received >= 1, MultibrokerKit.Timeout, "the original copy's receive completes");
        Assert.Equal(1, kit.Broker(0).Received);   // it was received (and acknowledged), not run

        // Both copies at the same time: one runs.
        var twin = NewId.NextGuid();
        await Task.WhenAll(
            original.Send(new Order("d", 2), c => c.MessageId = twin, ct),
            retry.Send(new Order("d", 2), c => c.MessageId = twin, ct));
        await Eventually.True(() => kit.Multibroker.DuplicatesSuppressed == 2, MultibrokerKit.Timeout, "one of the twins is suppressed");
        Assert.Single(kit.Recorder.Orders, s => s.MessageId == twin);
    }

    [Fact]
    public async Task Without_deduplication_both_copies_run()
    {
        await using var kit = await MultibrokerKit.StartAsync(2, x => x.Options.Deduplicate = false);
        var id = NewId.NextGuid();
        foreach (var broker in new[] { kit.Broker(0), kit.Broker(1) })
            await (await broker.Bus!.GetSendEndpoint(Orders)).Send(new Order("c", 1), c => c.MessageId = id, TestContext.Current.CancellationToken);
        await Eventually.True(() => kit.Recorder.Orders.Count == 2, MultibrokerKit.Timeout, "both copies consumed");
        Assert.Equal(0, kit.Multibroker.DuplicatesSuppressed);
    }
}

public class MultibrokerMessagingTests
{
    [Fact]
    public async Task A_response_comes_back_through_the_broker_the_request_used()
    {
        await using var kit = await MultibrokerKit.StartAsync(3);
        var answered = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var response = await kit.Multibroker.GetResponse<PriceQuery, PriceQuote>(new Uri("queue:multibroker-price"), new PriceQuery("sku-" + i),
                cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal("sku-" + i, response.Message.Sku);
            // The response was sent to the requesting bus's address on the broker that answered: one broker end to end.
            Assert.Equal(response.Message.AnsweredBy, response.DestinationAddress!.Host);
            answered.Add(response.Message.AnsweredBy);
        }
        Assert.Equal(["b0", "b0", "b1", "b1", "b2", "b2"], answered.Order());
    }

    [Fact]
    public async Task A_publish_reaches_each_subscriber_once_through_one_broker()
    {
        await using var kit = await MultibrokerKit.StartAsync(3);
        for (var i = 0; i < 30; i++)
            await kit.Multibroker.Publish(new OrderPlaced("c", i), TestContext.Current.CancellationToken);
        await Eventually.True(() => kit.Recorder.Placed.Count >= 30, MultibrokerKit.Timeout, "30 events consumed");
        Assert.Equal(30, kit.Recorder.Placed.Select(p => p.Number).Distinct().Count());
        Assert.Equal(30, kit.Recorder.Placed.Count);
        Assert.All(new[] { "b0", "b1", "b2" }, b => Assert.Equal(10, kit.Recorder.Placed.Count(p => p.Broker == b)));
    }

    [Fact]
    public async Task A_consumer_fault_is_published_on_the_broker_that_carried_the_message()
    {
        await using var kit = await MultibrokerKit.StartAsync(3);
        var endpoint = await kit.Multibroker.GetSendEndpoint(new Uri("queue:multibroker-explode"));
        for (var i = 0; i < 3; i++)
            await endpoint.Send(new Explode(i), TestContext.Current.CancellationToken);
        await Eventually.True(() => kit.Recorder.Faults.Count >= 3, MultibrokerKit.Timeout, "3 faults consumed");
        Assert.Equal(["b0", "b1", "b2"], kit.Recorder.Faults.OrderBy(f => f.Number).Select(f => f.Broker));
    }

    [Fact]
    public async Task A_saga_registered_once_sees_events_from_every_broker_in_one_shared_repository()
    {
        await using var kit = await MultibrokerKit.StartAsync(3, register: r =>
            r.AddSagaStateMachine<Sagas.TallyStateMachine, Sagas.TallyState>().InMemoryRepository().Endpoint(e => e.Name = "multibroker-tally"));
        var id = NewId.NextGuid();
        var endpoint = await kit.Multibroker.GetSendEndpoint(new Uri("queue:multibroker-tally"));
        for (var i = 0; i < 6; i++)
            await endpoint.Send(new TallyEvent(id, i), TestContext.Current.CancellationToken);
        // Six events over three brokers: one instance (the in-memory repository is one singleton for every broker's bus) counts them all;
        // a repository per bus would hold three instances of two each.
        await Eventually.True(() => Sagas.TallyStateMachine.Seen.TryGetValue(id, out var seen) && seen.Count == 6, MultibrokerKit.Timeout,
            "one saga instance counted the six events");
        Assert.Equal(["b0", "b1", "b2"], Sagas.TallyStateMachine.Seen[id].Brokers.Distinct().Order());
    }

    [Fact]
    public async Task Metrics_count_messages_per_broker_failovers_ejections_and_health()
    {
        var counters = new System.Collections.Concurrent.ConcurrentDictionary<(string Instrument, string Broker), long>();
        var gauges = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == Diagnostics.PatternsDiagnostics.Name && instrument.Name.Contains(".multibroker.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        string BrokerOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
                if (tag.Key == "masstransit.patterns.multibroker.broker")
                    return tag.Value as string ?? "";
            return "";
        }
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => counters.AddOrUpdate((instrument.Name, BrokerOf(tags)), value, (_, v) => v + value));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            if (instrument.Name.EndsWith("broker.healthy", StringComparison.Ordinal))
                gauges[BrokerOf(tags)] = value;
        });
        listener.Start();

        // Health is checked only when the test says so: the outage must be found by a send, not by a periodic check racing it.
        await using var kit = await MultibrokerKit.StartAsync(2, x => x.Options.HealthCheckInterval = TimeSpan.FromHours(1), prefix: "metrics");
        kit.Transports[1].Outage.Down();
        for (var i = 0; i < 4; i++)
            await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", i), cancellationToken: TestContext.Current.CancellationToken);
        await Eventually.True(() => counters.GetValueOrDefault(("masstransit.patterns.multibroker.received", "metrics0")) >= 4, MultibrokerKit.Timeout, "4 received on metrics0");
        listener.RecordObservableInstruments();

        const string p = "masstransit.patterns.multibroker.";
        Assert.Equal(4, counters.GetValueOrDefault((p + "sent", "metrics0")));
        Assert.Equal(0, counters.GetValueOrDefault((p + "sent", "metrics1")));
        Assert.Equal(1, counters.GetValueOrDefault((p + "send_failures", "metrics1")));
        Assert.Equal(1, counters.GetValueOrDefault((p + "failovers", "metrics0")));
        Assert.Equal(1, counters.GetValueOrDefault((p + "ejections", "metrics1")));
        Assert.Equal(1, gauges.GetValueOrDefault("metrics0"));
        Assert.Equal(0, gauges.GetValueOrDefault("metrics1", -1));
    }

    [Fact]
    public void Bad_options_fail_at_registration_naming_each()
    {
        var services = new ServiceCollection();
        var e = Assert.Throws<PatternOptionsException>(() => services.AddMultibroker(x =>
        {
            x.Broker("a", new InMemoryMultibrokerTransport()).Broker("a", new InMemoryMultibrokerTransport(), weight: 0);
            x.Options.SendTimeout = TimeSpan.Zero;
            x.Options.MinimumBrokersAtStart = 3;
        }));
        Assert.Contains("MultibrokerOptions.SendTimeout", e.Message);
        Assert.Contains("'a' appears 2 times", e.Message);
        Assert.Contains("Brokers[a].Weight", e.Message);
        Assert.Contains("MultibrokerOptions.MinimumBrokersAtStart", e.Message);
        Assert.Throws<PatternOptionsException>(() => new ServiceCollection().AddMultibroker(_ => { }));
    }
}

/// <summary>An in-memory broker that cannot be reached for its first starts.</summary>
public sealed class UnreachableAtFirstTransport(int failures) : MultibrokerTransport
{
    readonly InMemoryMultibrokerTransport _inner = new();
    int _attempts;

    public int Attempts => Volatile.Read(ref _attempts);

    public override IBusControl CreateBus(string brokerName, IBusRegistrationContext context, Action<IBusRegistrationContext, IBusFactoryConfigurator> configure) =>
        Interlocked.Increment(ref _attempts) <= failures
            ? throw new InvalidOperationException("broker unreachable")
            : _inner.CreateBus(brokerName, context, configure);
}

public class MultibrokerStartTests
{
    [Fact]
    public async Task A_broker_unreachable_at_start_is_retried_and_joins_the_rotation_when_it_starts()
    {
        var late = new UnreachableAtFirstTransport(failures: 5);
        await using var kit = await MultibrokerKit.StartAsync(2, x =>
        {
            x.Broker("late", late);
            x.Options.MinimumBrokersAtStart = 2;
            x.Options.RestartInterval = TimeSpan.FromMilliseconds(100);
        });
        var lateBroker = kit.Multibroker.Brokers[2];
        // The host started with the two others; sends meanwhile go to them.
        var sent = new List<string>();
        var observed = 0;
        using var handle = kit.Multibroker.ConnectSendObserver(new CountingSendObserver(() => Interlocked.Increment(ref observed)));
        Assert.Null(lateBroker.Bus);   // five failed starts 100 ms apart: not started yet
        Assert.Equal(BrokerState.Starting, lateBroker.State);
        await Eventually.True(() => lateBroker.State == BrokerState.Healthy, MultibrokerKit.Timeout, "the late broker starts after its failed attempts");
        Assert.Equal(6, late.Attempts);
        Assert.Contains("broker unreachable", lateBroker.LastFailure);
        for (var i = 0; i < 30; i++)
            sent.Add((await kit.Multibroker.SendAsync(MultibrokerKit.Orders, new Order("c", i), cancellationToken: TestContext.Current.CancellationToken)).Name);
        Assert.Equal(10, sent.Count(n => n == "late"));
        await Eventually.True(() => kit.Recorder.Orders.Count(o => o.Broker == "late") == 10, MultibrokerKit.Timeout, "the late broker consumes its share");
        Assert.Equal(30, Volatile.Read(ref observed)); // an observer connected before the late bus started sees its sends too
    }

    sealed class CountingSendObserver(Action sent) : ISendObserver
    {
        public Task PreSend<T>(SendContext<T> context) where T : class => Task.CompletedTask;

        public Task PostSend<T>(SendContext<T> context) where T : class
        {
            sent();
            return Task.CompletedTask;
        }

        public Task SendFault<T>(SendContext<T> context, Exception exception) where T : class => Task.CompletedTask;
    }
}

public class MultibrokerCoexistenceTests
{
    public sealed class AppConsumer(Recorder recorder) : IConsumer<Order>
    {
        public Task Consume(ConsumeContext<Order> context)
        {
            recorder.Order(context);
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task The_applications_own_bus_and_the_multibroker_run_side_by_side_with_their_own_consumers()
    {
        var builder = new Microsoft.Extensions.Hosting.HostApplicationBuilder(new Microsoft.Extensions.Hosting.HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton<Recorder>();
        builder.Services.AddMultibroker(x =>
        {
            x.Register(r => r.AddConsumer<OrderConsumer>().Endpoint(e => e.Name = MultibrokerKit.OrdersQueue));
            x.Broker("m0", new InMemoryMultibrokerTransport()).Broker("m1", new InMemoryMultibrokerTransport());
            x.Options.MinimumBrokersAtStart = 2;
        });
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<AppConsumer>().Endpoint(e => e.Name = "app-orders");
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        try
        {
            var recorder = host.Services.GetRequiredService<Recorder>();
            var bus = host.Services.GetRequiredService<IBus>();
            await (await bus.GetSendEndpoint(new Uri("queue:app-orders"))).Send(new Order("app", 1), TestContext.Current.CancellationToken);
            var multibroker = host.Services.GetRequiredService<IMultibroker>();
            await multibroker.SendAsync(MultibrokerKit.Orders, new Order("mb", 2), cancellationToken: TestContext.Current.CancellationToken);
            await multibroker.SendAsync(MultibrokerKit.Orders, new Order("mb", 3), cancellationToken: TestContext.Current.CancellationToken);
            await Eventually.True(() => recorder.Orders.Count >= 3, MultibrokerKit.Timeout, "three orders consumed");
            var seen = recorder.Orders;
            Assert.Equal(["m0", "m1"], seen.Where(s => s.Customer == "mb").Select(s => s.Broker).Order());
            Assert.DoesNotContain(seen.Single(s => s.Customer == "app").Broker, new[] { "m0", "m1" });
            Assert.Equal(3, seen.Count);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }
}
