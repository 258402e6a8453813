using System.Collections.Concurrent;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Ambulance.Messages
{
    public record Claim(int Number, bool Bad);

    public record StampArguments(int Number);
}

namespace MassTransit.Patterns.Tests.Ambulance
{
    using Messages;

    public sealed class ClaimRejectedException(string message) : Exception(message);

    /// <summary>Where each claim ended: consumed (by message id, with the queue it was read from), or moved to an error or skipped queue.</summary>
    public sealed class ClaimLedger
    {
        public readonly ConcurrentDictionary<Guid, ConcurrentQueue<string>> Consumed = new();
        public readonly ConcurrentDictionary<Guid, int> Attempts = new();
        public readonly ConcurrentDictionary<string, ConcurrentQueue<Guid>> Moved = new();

        public void Record(ConcurrentDictionary<Guid, ConcurrentQueue<string>> into, Guid id, string queue) =>
            into.GetOrAdd(id, _ => new ConcurrentQueue<string>()).Enqueue(queue);

        public IReadOnlyList<Guid> MovedTo(string queue) => Moved.TryGetValue(queue, out var ids) ? ids.ToArray() : [];
    }

    /// <summary>Rejects bad claims with a non-transient exception (which the workflow delegates); consumes the others.</summary>
    public sealed class ClaimConsumer(ClaimLedger ledger) : IConsumer<Claim>
    {
        public Task Consume(ConsumeContext<Claim> context)
        {
            var id = context.MessageId!.Value;
            ledger.Attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
            if (context.Message.Bad)
                throw new ClaimRejectedException($"claim {context.Message.Number} is not covered");
            ledger.Record(ledger.Consumed, id, context.ReceiveContext.InputAddress.GetEndpointName() ?? "");
            return Task.CompletedTask;
        }
    }

    public sealed class StampActivity : IExecuteActivity<StampArguments>
    {
        public Task<ExecutionResult> Execute(ExecuteContext<StampArguments> context) => Task.FromResult(context.Completed());
    }

    /// <summary>A consumer definition that puts the workflow event on its endpoint, docs/workflow-event.md's "or in a consumer definition".</summary>
    public sealed class ClaimConsumerDefinition : ConsumerDefinition<ClaimConsumer>
    {
        public ClaimConsumerDefinition()
        {
            EndpointName = AmbulanceCompositionTests.Queue;
            Endpoint(e => e.AddConfigureEndpointCallback((context, cfg) => cfg.UseWorkflowEvent(context, o => o.Delegate<ClaimRejectedException>())));
        }

        protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<ClaimConsumer> consumerConfigurator,
            IRegistrationContext context) =>
            consumerConfigurator.UseMessageRetry(r => r.Immediate(2));
    }

    /// <summary>
    /// Patterns composed on one endpoint: the ambulance lane beside an endpoint whose consumer hands
    /// its non-transient failures to the workflow event. The lane endpoint must get the same
    /// endpoint configuration as the queue, however the user registered it, so a bad urgent message
    /// reaches the workflow store like a bad normal one, and nothing dead-ends in an error queue.
    /// </summary>
    public sealed class AmbulanceCompositionTests
    {
        public const string Queue = "ambulance-claims";
        const string Lane = Queue + AmbulanceLaneOptions.DefaultSuffix;
        static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

        /// <summary>How the user put <c>UseWorkflowEvent</c> on the endpoint.</summary>
        public enum Registration
        {
            /// <summary>docs/workflow-event.md (Turn it on): <c>AddConsumer&lt;C&gt;(c =&gt; retry).Endpoint(e =&gt; e.AddConfigureEndpointCallback(...))</c>.</summary>
            ConsumerEndpointCallback,

            /// <summary>The same in a consumer definition's <c>Endpoint(...)</c>.</summary>
            ConsumerDefinition,

            /// <summary><c>x.AddConfigureEndpointsCallback((ctx, name, cfg) =&gt; { if (name == queue) ... })</c>.</summary>
            ConfigureEndpointsCallbackByName,

            /// <summary><c>a.ReceiveEndpoint(queue, e =&gt; ...)</c>: the lane's own way of declaring both endpoints.</summary>
            LaneReceiveEndpoint
        }

        static async Task<(ServiceProvider Provider, ITestHarness Harness, ClaimLedger Ledger)> StartAsync(Registration registration)
        {
            var ledger = new ClaimLedger();
            var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(ledger)
                .AddMassTransitTestHarness(x =>
                {
                    x.AddWorkflowEventProcessor().InMemoryRepository();
                    switch (registration)
                    {
                        case Registration.ConsumerEndpointCallback:
                            x.AddConsumer<ClaimConsumer>(c => c.UseMessageRetry(r => r.Immediate(2)))
                                .Endpoint(e =>
                                {
                                    e.Name = Queue;
                                    e.AddConfigureEndpointCallback((ctx, cfg) => cfg.UseWorkflowEvent(ctx, o => o.Delegate<ClaimRejectedException>()));
                                });
                            break;
                        case Registration.ConsumerDefinition:
                            x.AddConsumer<ClaimConsumer, ClaimConsumerDefinition>();
                            break;
                        case Registration.ConfigureEndpointsCallbackByName:
                            x.AddConsumer<ClaimConsumer>(c => c.UseMessageRetry(r => r.Immediate(2))).Endpoint(e => e.Name = Queue);
                            x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                            {
                                if (name == Queue)
                                    cfg.UseWorkflowEvent(ctx, o => o.Delegate<ClaimRejectedException>());
                            });
                            break;
                        case Registration.LaneReceiveEndpoint:
                            x.AddConsumer<ClaimConsumer>(c => c.UseMessageRetry(r => r.Immediate(2))).ExcludeFromConfigureEndpoints();
                            break;
                    }

                    x.UsingInMemory((context, cfg) =>
                    {
                        // Whatever reaches an error or skipped queue of the endpoint or its lane is recorded by message id.
                        foreach (var dead in new[] { Queue + "_error", Lane + "_error", Queue + "_skipped", Lane + "_skipped" })
                            cfg.ReceiveEndpoint(dead, e =>
                            {
                                e.ConfigureConsumeTopology = false;
                                e.Handler<Claim>(ctx =>
                                {
                                    ledger.Moved.GetOrAdd(dead, _ => new ConcurrentQueue<Guid>()).Enqueue(ctx.MessageId!.Value);
                                    return Task.CompletedTask;
                                });
                            });

                        cfg.UseAmbulanceLane(context, a =>
                        {
                            if (registration == Registration.LaneReceiveEndpoint)
                                a.ReceiveEndpoint(Queue, e =>
                                {
                                    e.UseWorkflowEvent(context, o => o.Delegate<ClaimRejectedException>());
                                    e.ConfigureConsumer<ClaimConsumer>(context);
                                });
                            else
                                a.Endpoint(Queue);
                        });
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            return (provider, harness, ledger);
        }

        [Fact]
        public async Task A_lane_beside_an_endpoint_that_also_has_an_activity_fails_the_start_naming_it()
        {
            // The lane carries consumers and sagas; an urgent routing slip for the activity would find nothing on the lane.
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(new ClaimLedger())
                .AddMassTransitTestHarness(x =>
                {
                    x.AddConsumer<ClaimConsumer>().Endpoint(e =>
                    {
                        e.Name = Queue;
                        e.ConfigureConsumeTopology = false; // as an activity's endpoint, or MassTransit refuses to share it
                    });
                    x.AddExecuteActivity<StampActivity, StampArguments>().Endpoint(e => e.Name = Queue);
                    x.UsingInMemory((context, cfg) =>
                    {
                        cfg.UseAmbulanceLane(context, a => a.Endpoint(Queue));
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);

            var failure = await Assert.ThrowsAnyAsync<ConfigurationException>(() => provider.GetRequiredService<ITestHarness>().Start());

            Assert.Contains($"AmbulanceConfigurator.Endpoint(\"{Queue}\")", failure.Message);
            Assert.Contains(nameof(StampActivity), failure.Message);
        }

        [Theory]
        [InlineData(Registration.ConsumerEndpointCallback)]
        [InlineData(Registration.ConsumerDefinition)]
        [InlineData(Registration.ConfigureEndpointsCallbackByName)]
        [InlineData(Registration.LaneReceiveEndpoint)]
        public async Task A_bad_urgent_message_is_handed_to_the_workflow_from_the_lane_and_every_message_ends_in_exactly_one_place(Registration registration)
        {
            var (provider, harness, ledger) = await StartAsync(registration);
            await using var _ = provider;
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{Queue}"));

            // 40 claims: half urgent, and in each half one in four bad.
            var goodNormal = new List<Guid>();
            var goodUrgent = new List<Guid>();
            var badNormal = new List<Guid>();
            var badUrgent = new List<Guid>();
            for (var n = 0; n < 40; n++)
            {
                var urgent = n % 2 == 1;
                var bad = n / 2 % 4 == 3;
                var id = NewId.NextGuid();
                await endpoint.Send(new Claim(n, bad), ctx =>
                {
                    ctx.MessageId = id;
                    if (urgent)
                        ctx.SetUrgent();
                });
                (bad ? urgent ? badUrgent : badNormal : urgent ? goodUrgent : goodNormal).Add(id);
            }
            var sent = goodNormal.Count + goodUrgent.Count + badNormal.Count + badUrgent.Count;
            var repository = provider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>();
            var errors = new[] { Queue + "_error", Lane + "_error" };

            async Task<int> InStoreAsync(IEnumerable<Guid> ids)
            {
                var count = 0;
                foreach (var id in ids)
                    if (await repository.Load(id) is not null)
                        count++;
                return count;
            }

            // Every message has reached an end: consumed, in the workflow store, or in an error queue.
            await Eventually.True(async () => ledger.Consumed.Count + await InStoreAsync(badNormal.Concat(badUrgent)) + errors.Sum(q => ledger.MovedTo(q).Count) >= sent,
                Deadline, "every claim consumed, handed to the workflow or moved to an error queue");
            await harness.InactivityTask;

            var laneErrors = ledger.MovedTo(Lane + "_error");
            Assert.True(laneErrors.Count == 0,
                $"{laneErrors.Count} bad urgent claims dead-ended in {Lane}_error instead of the workflow store (tried {string.Join(", ", laneErrors.Select(id => ledger.Attempts.GetValueOrDefault(id)))} times each)");
            Assert.Empty(ledger.MovedTo(Queue + "_error"));

            // Every bad message, normal or urgent, waits in the workflow store, handed off from the endpoint that read it.
            foreach (var (ids, from) in new[] { (badNormal, Queue), (badUrgent, Lane) })
                foreach (var id in ids)
                {
                    var saga = await repository.Load(id);
                    Assert.NotNull(saga);
                    Assert.Equal("AwaitingPerson", saga.CurrentState);
                    Assert.EndsWith("/" + from, saga.SourceAddress);
                }

            // Every good message is consumed once, by message id: the normal ones from the queue, the urgent ones from the lane.
            Assert.All(goodNormal, id => Assert.Equal([Queue], ledger.Consumed[id].ToArray()));
            Assert.All(goodUrgent, id => Assert.Equal([Lane], ledger.Consumed[id].ToArray()));
            Assert.Equal(goodNormal.Count + goodUrgent.Count, ledger.Consumed.Count);
            Assert.False(badNormal.Concat(badUrgent).Any(ledger.Consumed.ContainsKey), "no bad claim was consumed");

            // Nothing reaches a skipped queue: a confirmed hand-off counts as consumed, so MassTransit does not also dead-letter the original.
            Assert.Empty(ledger.MovedTo(Queue + "_skipped"));
            Assert.Empty(ledger.MovedTo(Lane + "_skipped"));

            // The outcomes add up to what was sent.
            Assert.Equal(sent, ledger.Consumed.Count + await InStoreAsync(badNormal.Concat(badUrgent)));
        }
    }
}
