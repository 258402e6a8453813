using System.Text.Json.Nodes;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>
    /// Contextual queues whose endpoints hand their failures to the workflow event, on the real broker. The workflow filter is
    /// put on in the contextual endpoint's configuration, which runs for the default queue and for every context queue
    /// created at run time: a poison message fails into the workflow from whichever queue delivered it, a repaired one is
    /// resubmitted to that queue and consumed once, and a person's resubmission after the context's queue was retired still
    /// reaches a consumer. Every message is accounted for.
    /// </summary>
    public sealed class ContextualAndWorkflowOnRabbitMqTests
    {
        const int PerContext = 20;

        static RabbitMqProbeOptions Probe()
        {
            var options = new RabbitMqProbeOptions();
            CompositionKit.Probe(options);
            return options;
        }

        sealed class Rig : IAsyncDisposable
        {
            readonly ServiceProvider _provider;

            Rig(ServiceProvider provider, string queue, string repairQueue, ContextualRouting routing)
            {
                _provider = provider;
                Queue = queue;
                RepairQueue = repairQueue;
                Routing = routing;
                Bus = provider.GetRequiredService<IBusControl>();
                Log = provider.GetRequiredService<JobLog>();
                Client = new WorkflowEventClient(Bus, new Uri($"exchange:{repairQueue}"), TimeSpan.FromSeconds(30));
            }

            public string Queue { get; }
            public string RepairQueue { get; }
            public ContextualRouting Routing { get; }
            public IBusControl Bus { get; }
            public JobLog Log { get; }
            public WorkflowEventClient Client { get; }
            public IServiceProvider Services => _provider;

            public static async Task<Rig> StartAsync()
            {
                var queue = Broker.UniqueQueue("cmp-ctx-wf");
                var repairQueue = Broker.UniqueQueue("cmp-ctx-wf-repair");
                var provider = new ServiceCollection()
                    .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                    .AddSingleton<JobLog>()
                    .AddMassTransit(x =>
                    {
                        x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).InMemoryRepository();
                        x.AddMessageRepairer<Job, FixableJobRepairer>();
                        x.AddContextualQueues<Job>();
                        x.AddConsumer<JobConsumer>().ExcludeFromConfigureEndpoints();
                        x.UsingRabbitMq((context, cfg) =>
                        {
                            CompositionKit.Host(cfg);
                            // The contextual endpoint configuration runs for the default queue and for each context queue created at run time.
                            cfg.UseContextualQueues<Job>(context, Probe(), q =>
                            {
                                q.DefaultQueue(queue).Context(m => m.Key).Endpoint(e =>
                                {
                                    e.UseWorkflowEvent(context, o =>
                                    {
                                        o.RepairAddress = new Uri($"exchange:{repairQueue}");
                                        o.Delegate<PoisonJobException>();
                                    });
                                    e.ConfigureConsumer<JobConsumer>(context);
                                });
                                q.Options.ConcurrentMessageLimit = 2;
                                q.Options.DefaultConcurrentMessageLimit = 2;
                            });
                            cfg.ConfigureEndpoints(context);
                        });
                    })
                    .BuildServiceProvider(true);
                provider.GetRequiredService<IBusControl>(); // creating the bus configures the contextual queues
                var rig = new Rig(provider, queue, repairQueue, provider.GetRequiredService<ContextualRouting<Job>>());
                try
                {
                    await rig.Bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
                }
                catch
                {
                    await rig.DisposeAsync();
                    throw;
                }
                return rig;
            }

            /// <summary>
            /// Sends <see cref="PerContext"/> jobs of each context, in order, waiting for the context's queue after its first:
            /// each context's jobs numbered <paramref name="poison"/> are poison.
            /// </summary>
            public async Task<List<(Guid Id, string Key, int Number, bool Poison)>> SendAsync(params (string Key, int[] Poison)[] contexts)
            {
                var endpoint = await Bus.GetSendEndpoint(Routing.RouterAddress);
                var sent = new List<(Guid, string, int, bool)>();
                foreach (var (key, poison) in contexts)
                    for (var n = 0; n < PerContext; n++)
                    {
                        sent.Add((await CompositionKit.SendAsync(endpoint, new Job(key, n, poison.Contains(n), 5)), key, n, poison.Contains(n)));
                        if (n == 0)
                            Assert.True(await Routing.WaitForQueueAsync(key, TimeSpan.FromSeconds(30)), $"{key} got its queue");
                    }
                return sent;
            }

            /// <summary>An account of <paramref name="all"/>: consumed, waiting for a person, every queue (context queues included) empty.</summary>
            public MessageAccount Account(IEnumerable<Guid> all, IEnumerable<Guid> consumed, IEnumerable<Guid> waiting, params string[] contextQueues)
            {
                var ids = all.ToList();
                var account = new MessageAccount()
                    .Sent(ids)
                    .Consumed(Log.Consumed, Expect.Ids(consumed))
                    .Place("waiting for a person (workflow store)", CompositionKit.InWorkflowState(_provider, ids, "AwaitingPerson"), Expect.Ids(waiting))
                    .Endpoint(Queue, Expect.Empty)
                    .Endpoint(RepairQueue, Expect.Empty);
                foreach (var contextQueue in contextQueues)
                    account.Endpoint(contextQueue, Expect.Empty);
                return account;
            }

            /// <summary>A person cures a poison job (sets it not poison) and resubmits it.</summary>
            public async Task CureAndResubmitAsync(Guid id)
            {
                var body = JsonNode.Parse((await Client.InspectAsync(id)).Body!)!;
                body["message"]!["poison"] = false;
                Assert.True((await Client.EditAsync(id, body.ToJsonString(), "heidi", "not poison after all")).Accepted);
                Assert.True((await Client.ResubmitAsync(id, "heidi")).Accepted);
            }

            public async ValueTask DisposeAsync()
            {
                var contexts = Routing.Queues.Select(q => q.QueueName).ToArray();
                await Bus.StopAsync(CancellationToken.None);
                await _provider.DisposeAsync();
                await CompositionKit.DeleteAsync([Queue, RepairQueue, .. contexts]);
                await using var connection = await Broker.Factory().CreateConnectionAsync();
                await using var channel = await connection.CreateChannelAsync();
                await channel.ExchangeDeleteAsync(Queue + ".router");
            }
        }

        [Fact]
        public async Task Queues_created_at_run_time_hand_poison_to_the_workflow_and_a_repaired_message_is_consumed_from_its_context_queue()
        {
            await using var rig = await Rig.StartAsync();

            // Context "a": its first job poison (read from the default queue, which creates a's queue) and its 12th (read
            // from a's queue), both waiting for a person; context "fixable-b": its 10th poison, repaired automatically.
            var sent = await rig.SendAsync(("a", [0, 12]), ("fixable-b", [10]));
            var good = sent.Where(s => !s.Poison).Select(s => s.Id).ToList();
            var waiting = sent.Where(s => s is { Poison: true, Key: "a" }).ToList();
            var repaired = sent.Where(s => s is { Poison: true, Key: "fixable-b" }).Select(s => s.Id).ToList();

            await rig.Account(sent.Select(s => s.Id), good.Concat(repaired), waiting.Select(w => w.Id), rig.Routing.QueueOf("a"), rig.Routing.QueueOf("fixable-b"))
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(90));

            // Each poison job was handed off by the queue that read it: the default queue, or a's queue created at run time;
            // the repaired one came back to fixable-b's queue and was consumed there.
            var workflows = await CompositionKit.WorkflowsAsync(rig.Services, sent.Where(s => s.Poison).Select(s => s.Id));
            Assert.EndsWith("/" + rig.Queue, workflows[waiting.Single(w => w.Number == 0).Id].SourceAddress);
            Assert.EndsWith("/" + rig.Routing.QueueOf("a"), workflows[waiting.Single(w => w.Number == 12).Id].SourceAddress);
            Assert.All(repaired, id => Assert.EndsWith("/" + rig.Routing.QueueOf("fixable-b"), workflows[id].SourceAddress));
            Assert.All(repaired, id => Assert.Equal(rig.Routing.QueueOf("fixable-b"), rig.Log.Of(id)!.Queue));
        }

        [Fact]
        public async Task A_resubmission_after_its_context_queue_retired_is_consumed()
        {
            await using var rig = await Rig.StartAsync();
            var sent = await rig.SendAsync(("a", [12]));
            var aQueue = rig.Routing.QueueOf("a");
            var late = sent.Single(s => s.Poison).Id;
            var good = sent.Where(s => !s.Poison).Select(s => s.Id).ToList();
            await rig.Account(sent.Select(s => s.Id), good, [late], aQueue).AssertAllAccountedAsync(TimeSpan.FromSeconds(90));
            var workflows = await CompositionKit.WorkflowsAsync(rig.Services, [late]);
            Assert.EndsWith("/" + aQueue, workflows[late].SourceAddress);

            // a's queue retires (idle, emptied, deleted); then a person cures the job a's queue handed off and resubmits it.
            Assert.True(await rig.Routing.RetireAsync("a"), "a's queue retired");
            await rig.CureAndResubmitAsync(late);
            await Eventually.True(async () => (await CompositionKit.WorkflowsAsync(rig.Services, [late]))[late].CurrentState != "AwaitingPerson",
                TimeSpan.FromSeconds(30), "the workflow resubmitted the job");
            await using (var reader = new RabbitQueueReader(RabbitNode.Shared()))
                CompositionKit.Print($"resubmitted: workflow {(await CompositionKit.WorkflowsAsync(rig.Services, [late]))[late].CurrentState}, " +
                                     $"exchange {aQueue} has {await reader.BindingsFromAsync(aQueue)} binding(s)");

            await rig.Account(sent.Select(s => s.Id), good.Append(late), [], aQueue).AssertAllAccountedAsync(TimeSpan.FromSeconds(60));
            CompositionKit.Print($"the resubmission after retirement was consumed from {rig.Log.Of(late)!.Queue}");
        }
    }
}
