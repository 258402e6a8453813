using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>
    /// The supervisor and the workflow event on one endpoint, on the real broker: while the supervisor follows a backlog
    /// within [min, max], poison messages are handed to the workflow (the fixable ones repaired, resubmitted through the
    /// supervised endpoint and consumed once, the others waiting for a person), nothing reaches _error or _skipped, and
    /// the supervisor is back at its minimum afterwards.
    /// </summary>
    public sealed class SupervisorAndWorkflowOnRabbitMqTests
    {
        const int Min = 1, Max = 4;
        const int Backlog = 300, WorkMs = 30, PoisonEvery = 15;

        [Fact]
        public async Task Poison_messages_in_a_supervised_backlog_go_to_the_workflow_and_every_message_is_accounted_for()
        {
            var queue = Broker.UniqueQueue("cmp-sup-wf");
            var repairQueue = Broker.UniqueQueue("cmp-sup-wf-repair");
            var log = new JobLog();
            await using var provider = new ServiceCollection()
                .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .AddSingleton(log)
                .AddConsumerSupervisorRegistry()
                .AddRabbitMqQueueDepthProbe(CompositionKit.Probe)
                .AddMassTransit(x =>
                {
                    x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).InMemoryRepository();
                    x.AddMessageRepairer<Job, FixableJobRepairer>();
                    x.AddConsumer<JobConsumer>().Endpoint(e => e.Name = queue);
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name != queue)
                            return;
                        cfg.UseWorkflowEvent(context, o =>
                        {
                            o.RepairAddress = new Uri($"exchange:{repairQueue}");
                            o.Delegate<PoisonJobException>();
                        });
                        cfg.UseSupervisor(context, o =>
                        {
                            o.MinConsumers = Min;
                            o.MaxConsumers = Max;
                            o.MessagesPerConsumer = 10;
                            o.PollInterval = TimeSpan.FromMilliseconds(100);
                            o.ScaleDownCooldown = TimeSpan.FromMilliseconds(500);
                        });
                    });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        CompositionKit.Host(cfg);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            try
            {
                var supervisor = provider.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue);
                await Eventually.True(() => supervisor.Ticks > 0, TimeSpan.FromSeconds(30), "the supervisor looks once the endpoint is ready");
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));

                // Every 15th job poison, alternately fixable (repaired automatically) and not (waits for a person).
                var sends = Enumerable.Range(0, Backlog).Select(async n =>
                {
                    var poison = n % PoisonEvery == PoisonEvery - 1;
                    var key = !poison ? "good" : n / PoisonEvery % 2 == 0 ? "fixable" : "bad";
                    return (Key: key, Id: await CompositionKit.SendAsync(endpoint, new Job(key, n, poison, WorkMs)));
                }).ToArray();
                var sent = await Task.WhenAll(sends);
                var good = sent.Where(s => s.Key == "good").Select(s => s.Id).ToList();
                var fixable = sent.Where(s => s.Key == "fixable").Select(s => s.Id).ToList();
                var bad = sent.Where(s => s.Key == "bad").Select(s => s.Id).ToList();

                await new MessageAccount()
                    .Sent(sent.Select(s => s.Id))
                    .Consumed(log.Consumed, Expect.Ids(good.Concat(fixable)))
                    .Place("waiting for a person (workflow store)", CompositionKit.InWorkflowState(provider, bad, "AwaitingPerson"), Expect.Ids(bad))
                    .Endpoint(queue, Expect.Empty)
                    .Endpoint(repairQueue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(120));

                // The repaired ones went through the workflow and came back through the supervised endpoint.
                var repaired = await CompositionKit.WorkflowsAsync(provider, fixable);
                Assert.All(fixable, id => Assert.Equal("Completed", repaired[id].CurrentState));
                Assert.All(fixable, id => Assert.Equal(2, log.Attempts(id)));
                Assert.All(good, id => Assert.Equal(1, log.Attempts(id)));

                // The supervisor followed the backlog within its bounds, and is back at its minimum.
                CompositionKit.Print($"peak concurrency {log.Peak(queue)}; {good.Count} good, {fixable.Count} repaired, {bad.Count} waiting for a person");
                Assert.InRange(log.Peak(queue), Min + 1, Max);
                await Eventually.True(() => supervisor.Limit == Min, TimeSpan.FromSeconds(30), "back to the minimum after the cool-down");
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                await CompositionKit.DeleteAsync(queue, repairQueue);
            }
        }
    }
}
