using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>
    /// The thread delegate (per-key order, keys in parallel) and the workflow event holding by the same key, on one endpoint
    /// of the real broker: a key whose message fails for good is handed to the workflow and its later messages are held
    /// behind it, other keys go on in order; when a person cures and resubmits the failed message it is consumed in its
    /// place and the held ones follow in order. A key repaired automatically while its later messages still wait in the
    /// queue must keep its order too. Every message is accounted for: consumed once, waiting for a person, or held.
    /// </summary>
    public sealed class ThreadDelegateAndWorkflowHoldOnRabbitMqTests
    {
        const int Workers = 4, PerKey = 25;
        const string Stuck = "k2", Fixable = "fixable-a";
        const int StuckAt = 5;
        static readonly string[] Keys = ["k0", "k1", Stuck, "k3", "k4", "k5"];

        public enum Order
        {
            ThreadDelegateFirst,
            WorkflowFirst
        }

        [Theory]
        [InlineData(Order.ThreadDelegateFirst)]
        [InlineData(Order.WorkflowFirst)]
        public async Task A_failed_key_is_held_behind_its_workflow_and_released_in_order_while_other_keys_go_on_in_order(Order order)
        {
            var queue = Broker.UniqueQueue("cmp-td-hold");
            var repairQueue = Broker.UniqueQueue("cmp-td-hold-repair");
            var repairAddress = new Uri($"exchange:{repairQueue}");
            var log = new JobLog();
            await using var provider = Build(queue, repairQueue, log, order);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            try
            {
                await provider.GetRequiredService<WorkflowHoldRegistry>().Ready.WaitAsync(TimeSpan.FromSeconds(30)); // the loader asked the processor
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));

                // Round robin over the keys, in order within each key: Stuck fails for good at StuckAt.
                var ids = Keys.ToDictionary(k => k, _ => new List<Guid>());
                var random = new Random(7);
                for (var n = 0; n < PerKey; n++)
                    foreach (var key in Keys)
                    {
                        var poison = key == Stuck && n == StuckAt;
                        ids[key].Add(await CompositionKit.SendAsync(endpoint, new Job(key, n, poison, random.Next(1, 8))));
                    }
                var all = ids.Values.SelectMany(i => i).ToList();
                var leader = ids[Stuck][StuckAt];
                var held = ids[Stuck].Skip(StuckAt + 1).ToList();

                // While the stuck key's first failure waits for a person: the others consumed, its later messages held behind it.
                await new MessageAccount()
                    .Sent(all)
                    .Consumed(log.Consumed, Expect.Ids(all.Except(held).Except([leader])))
                    .Place("waiting for a person (workflow store)", CompositionKit.InWorkflowState(provider, all, "AwaitingPerson"), Expect.Ids([leader]))
                    .Place("held behind it (workflow store)", async _ => PlaceReading.Of(await HeldAsync(provider, leader)), Expect.Ids(held))
                    .Endpoint(queue, Expect.Empty)
                    .Endpoint(repairQueue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(120));
                Assert.Equal(Enumerable.Range(0, StuckAt), log.Order(Stuck));

                // A person cures it and resubmits it: it is consumed in its place, then the held ones in order.
                var client = new WorkflowEventClient(bus, repairAddress, TimeSpan.FromSeconds(30));
                var body = JsonNode.Parse((await client.InspectAsync(leader)).Body!)!;
                body["message"]!["poison"] = false;
                Assert.True((await client.EditAsync(leader, body.ToJsonString(), "heidi", "not poison after all")).Accepted);
                Assert.True((await client.ResubmitAsync(leader, "heidi")).Accepted);

                await new MessageAccount()
                    .Sent(all)
                    .Consumed(log.Consumed, Expect.Ids(all))
                    .Place("waiting for a person (workflow store)", CompositionKit.InWorkflowState(provider, all, "AwaitingPerson"), Expect.Empty)
                    .Place("held behind it (workflow store)", async _ => PlaceReading.Of(await HeldAsync(provider, leader)), Expect.Empty)
                    .Endpoint(queue, Expect.Empty)
                    .Endpoint(repairQueue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(120));

                // Every key in order, the repaired and released ones included; keys in parallel, at most Workers at once.
                foreach (var key in Keys)
                    Assert.True(log.Order(key).SequenceEqual(Enumerable.Range(0, PerKey)), $"key {key} completed [{string.Join(",", log.Order(key))}]");
                var workflows = await CompositionKit.WorkflowsAsync(provider, all);
                Assert.Equal(leader, Assert.Single(workflows.Keys));
                Assert.All(workflows.Values, w => Assert.Equal("Completed", w.CurrentState));
                CompositionKit.Print($"peak concurrency {log.Peak(queue)} of {Workers} workers; {held.Count} held behind {Stuck}");
                Assert.InRange(log.Peak(queue), 2, Workers);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await CompositionKit.DeleteAsync(queue, repairQueue);
            }
        }

        [Fact]
        public async Task A_key_repaired_while_its_later_messages_still_wait_in_the_queue_keeps_its_order()
        {
            // One key, many messages behind its poison one: when the repair completes, most of them are still in the queue,
            // ahead of the held ones the processor sends back. They must not overtake them.
            const int count = 80, poisonAt = 5;
            var queue = Broker.UniqueQueue("cmp-td-release");
            var repairQueue = Broker.UniqueQueue("cmp-td-release-repair");
            var log = new JobLog();
            await using var provider = Build(queue, repairQueue, log, Order.ThreadDelegateFirst);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            try
            {
                await provider.GetRequiredService<WorkflowHoldRegistry>().Ready.WaitAsync(TimeSpan.FromSeconds(30));
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                var ids = new List<Guid>();
                for (var n = 0; n < count; n++)
                    ids.Add(await CompositionKit.SendAsync(endpoint, new Job(Fixable, n, n == poisonAt, 10)));

                await new MessageAccount()
                    .Sent(ids)
                    .Consumed(log.Consumed, Expect.Ids(ids))
                    .Place("waiting for a person (workflow store)", CompositionKit.InWorkflowState(provider, ids, "AwaitingPerson"), Expect.Empty)
                    .Place("held (workflow store)", async _ => PlaceReading.Of(await HeldAsync(provider, ids[poisonAt])), Expect.Empty)
                    .Endpoint(queue, Expect.Empty)
                    .Endpoint(repairQueue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(120));

                var order = log.Order(Fixable);
                CompositionKit.Print($"held and released: {(await CompositionKit.WorkflowsAsync(provider, [ids[poisonAt]]))[ids[poisonAt]].ReadAudit().Count(a => a.Action == "held")}; completed [{string.Join(",", order)}]");
                Assert.True(order.SequenceEqual(Enumerable.Range(0, count)), $"key {Fixable} completed [{string.Join(",", order)}]");
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await CompositionKit.DeleteAsync(queue, repairQueue);
            }
        }

        static ServiceProvider Build(string queue, string repairQueue, JobLog log, Order order)
        {
            var repairAddress = new Uri($"exchange:{repairQueue}");
            return new ServiceCollection()
                .AddMetrics()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(log)
                .AddMassTransit(x =>
                {
                    x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).InMemoryRepository();
                    x.AddWorkflowEventHoldByKey(o => o.ProcessorAddress = repairAddress);
                    x.AddMessageRepairer<Job, FixableJobRepairer>();
                    x.AddConsumer<JobConsumer>().Endpoint(e => e.Name = queue);
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name != queue)
                            return;
                        if (order == Order.ThreadDelegateFirst)
                            OrderByKey(context, cfg);
                        cfg.UseWorkflowEvent(context, o =>
                        {
                            o.RepairAddress = repairAddress;
                            o.Delegate<PoisonJobException>();
                            o.HoldByKey<Job>(m => m.Key);
                        });
                        if (order == Order.WorkflowFirst)
                            OrderByKey(context, cfg);
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        CompositionKit.Host(cfg);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
        }

        static void OrderByKey(IRegistrationContext context, IReceiveEndpointConfigurator e) =>
            e.UseThreadDelegate(context, o =>
            {
                o.UseRabbitMqDeliveryOrder();
                o.Key<Job>(m => m.Key);
                o.Workers = Workers;
            });

        /// <summary>The message ids held behind <paramref name="leader"/>'s workflow.</summary>
        static async Task<IReadOnlyCollection<Guid>> HeldAsync(IServiceProvider provider, Guid leader)
        {
            if (!(await CompositionKit.WorkflowsAsync(provider, [leader])).TryGetValue(leader, out var workflow))
                return [];
            using var held = JsonDocument.Parse(workflow.HeldMessages);
            return held.RootElement.EnumerateArray()
                .Select(m => m.EnumerateObject().First(p => p.NameEquals("messageId") || p.NameEquals("MessageId")).Value.GetGuid())
                .ToArray();
        }
    }
}
