using MassTransit.Patterns.Addressing;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Workflow.Messages;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// The processor's queue has one source of truth, <see cref="WorkflowProcessorOptions.QueueName"/>: the
/// endpoint filter, the hold loader and the person's client registered in the same container follow it,
/// and an address set explicitly to another queue fails the start, naming both options.
/// </summary>
public sealed class WorkflowProcessorAddressTests
{
    const string Renamed = "order-repairs";

    static ServiceProvider Build(Action<WorkflowEventOptions>? endpoint = null, Action<WorkflowHoldLoaderOptions>? loader = null)
    {
        var services = new ServiceCollection().AddSingleton<OrderLedger>().AddSingleton(new SettledCounter(WorkflowRig.Queue));
        services.AddMassTransitTestHarness(x =>
        {
            x.AddWorkflowEventProcessor(o => o.QueueName = Renamed).InMemoryRepository();
            x.AddWorkflowEventHoldByKey(o => loader?.Invoke(o));
            x.AddConsumer<OrderConsumer>().Endpoint(e => e.Name = WorkflowRig.Queue);
            x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
            {
                if (name == WorkflowRig.Queue)
                    cfg.UseWorkflowEvent(ctx, o =>
                    {
                        o.HoldByKey<PlaceOrder>(m => m.OrderId.ToString());
                        endpoint?.Invoke(o);
                    });
            });
        });
        services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));
        return services.BuildServiceProvider(true);
    }

    [Fact]
    public async Task A_renamed_processor_queue_is_followed_by_the_endpoint_filter_the_hold_loader_and_the_client()
    {
        await using var provider = Build();
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var id = NewId.NextGuid();
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{WorkflowRig.Queue}"));
            await endpoint.Send(new PlaceOrder(Guid.NewGuid(), 0, "EUR"), c => c.MessageId = id);

            // The hand-off reached the renamed processor.
            var sagas = provider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>();
            await Eventually.True(async () => (await sagas.Load(id))?.CurrentState == "AwaitingPerson", TimeSpan.FromSeconds(20),
                "the bad message is handed to the processor on its renamed queue and waits for a person");
            Assert.All(harness.Sent.Select<WorkflowFailureReported>(), s => Assert.Equal(Renamed, AddressNames.EntityName(s.Context.DestinationAddress)));

            // The client from the container lists it.
            var client = provider.GetRequiredService<WorkflowEventClient>();
            Assert.Contains(await client.ListAsync(), m => m.CorrelationId == id);

            // The hold loader asked the renamed processor at start.
            Assert.True(await harness.Consumed.Any<ListHeldKeys>(), "the processor answered the hold loader");
            Assert.All(harness.Sent.Select<ListHeldKeys>(), s => Assert.Equal(Renamed, AddressNames.EntityName(s.Context.DestinationAddress)));
        }
        finally
        {
            await harness.Stop();
        }
    }

    [Fact]
    public async Task An_endpoint_address_that_names_another_queue_than_the_processors_fails_the_start_naming_both_options()
    {
        await using var provider = Build(endpoint: o => o.RepairAddress = new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName));

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => provider.GetRequiredService<ITestHarness>().Start());

        Assert.Contains("WorkflowEventOptions.RepairAddress", failure.ToString());
        Assert.Contains("WorkflowProcessorOptions.QueueName", failure.ToString());
        Assert.Contains(Renamed, failure.ToString());
    }

    [Fact]
    public async Task A_hold_loader_address_that_names_another_queue_than_the_processors_fails_the_start_naming_both_options()
    {
        await using var provider = Build(loader: o => o.ProcessorAddress = new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName));

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => provider.GetRequiredService<ITestHarness>().Start());

        Assert.Contains("WorkflowHoldLoaderOptions.ProcessorAddress", failure.ToString());
        Assert.Contains("WorkflowProcessorOptions.QueueName", failure.ToString());
    }

    [Fact]
    public async Task An_explicit_address_of_the_processors_queue_on_another_form_is_accepted()
    {
        await using var provider = Build(endpoint: o => o.RepairAddress = new Uri($"exchange:{Renamed}"),
            loader: o => o.ProcessorAddress = new Uri($"queue:{Renamed}"));
        var harness = provider.GetRequiredService<ITestHarness>();

        await harness.Start();
        await harness.Stop();
    }
}
