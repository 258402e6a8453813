using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Documentation.Messages
{
    public record ShipParcel(string OrderId, int Weight);
}

namespace MassTransit.Patterns.Tests.Documentation
{
    using Messages;

    /// <summary>
    /// The "Testing your own code" example of docs/testing-with-the-harness.md, compiled and run: a user's consumer and repairer
    /// under MassTransit's test harness, with the workflow processor on the in-memory saga repository.
    /// If this test changes, that page changes with it.
    /// </summary>
    public sealed class ReadmeHarnessExampleTests
    {
        public sealed class InvalidWeightException(string message) : Exception(message);

        public sealed class Shipments
        {
            public System.Collections.Concurrent.ConcurrentQueue<ShipParcel> Shipped { get; } = new();
        }

        public sealed class ShipParcelConsumer(Shipments shipments) : IConsumer<ShipParcel>
        {
            public Task Consume(ConsumeContext<ShipParcel> context)
            {
                if (context.Message.Weight <= 0)
                    throw new InvalidWeightException($"weight {context.Message.Weight}");
                shipments.Shipped.Enqueue(context.Message);
                return Task.CompletedTask;
            }
        }

        /// <summary>A negative weight is a sign error upstream: flip it. Zero cannot be guessed: a person decides.</summary>
        public sealed class WeightRepairer : IMessageRepairer<ShipParcel>
        {
            public Task<RepairResult<ShipParcel>> Repair(MessageRepairContext<ShipParcel> context, CancellationToken cancellationToken) =>
                Task.FromResult(context.Message.Weight < 0
                    ? RepairResult<ShipParcel>.Repaired(context.Message with { Weight = -context.Message.Weight }, "sign flipped")
                    : RepairResult<ShipParcel>.CannotRepair("no weight"));
        }

        [Fact]
        public async Task A_users_repairer_is_tested_under_the_harness_repaired_once_or_left_for_a_person()
        {
            await using var provider = new ServiceCollection()
                .AddSingleton<Shipments>()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddWorkflowEventProcessor().InMemoryRepository();
                    x.AddMessageRepairer<ShipParcel, WeightRepairer>();
                    x.AddConsumer<ShipParcelConsumer>().Endpoint(e => e.Name = "ship-parcel");
                    x.AddConfigureEndpointsCallback((context, name, cfg) =>
                    {
                        if (name == "ship-parcel")
                            cfg.UseWorkflowEvent(context, o => o.Delegate<InvalidWeightException>());
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();

            var signFlipped = NewId.NextGuid();
            var noWeight = NewId.NextGuid();
            await harness.Bus.Publish(new ShipParcel("A-1", -3), c => c.MessageId = signFlipped);
            await harness.Bus.Publish(new ShipParcel("A-2", 0), c => c.MessageId = noWeight);

            var sagas = harness.GetSagaStateMachineHarness<WorkflowEventStateMachine, WorkflowEventState>();
            Assert.NotNull(await sagas.Exists(signFlipped, m => m.Completed));
            Assert.NotNull(await sagas.Exists(noWeight, m => m.AwaitingPerson));

            // The repaired copy came back under the original message id and was shipped once; the other was not shipped.
            Assert.Equal([new ShipParcel("A-1", 3)], provider.GetRequiredService<Shipments>().Shipped);
            Assert.False(await harness.Published.Any<Fault<ShipParcel>>(), "a delegated failure publishes no fault");
        }
    }
}
