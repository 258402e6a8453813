using MassTransit;
using MassTransit.Patterns.Workflow;   // the saga types the test names
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class TestingSnippets
{
    public static async Task Harness(Guid signFlipped, Guid noWeight)
    {
        // begin-snippet: testing-with-the-harness
        await using var provider = new ServiceCollection()
            .AddSingleton<Shipments>()
            .AddMassTransitTestHarness(x =>
            {
                x.AddWorkflowEventProcessor().InMemoryRepository();
                x.AddMessageRepairer<ShipParcel, WeightRepairer>();      // yours: flips a negative weight, gives up on 0
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

        await harness.Bus.Publish(new ShipParcel("A-1", -3), c => c.MessageId = signFlipped);
        await harness.Bus.Publish(new ShipParcel("A-2", 0), c => c.MessageId = noWeight);

        var sagas = harness.GetSagaStateMachineHarness<WorkflowEventStateMachine, WorkflowEventState>();
        Assert.NotNull(await sagas.Exists(signFlipped, m => m.Completed));      // repaired, resubmitted, processed
        Assert.NotNull(await sagas.Exists(noWeight, m => m.AwaitingPerson));    // left for a person
        Assert.Equal([new ShipParcel("A-1", 3)], provider.GetRequiredService<Shipments>().Shipped);
        // end-snippet
    }
}
