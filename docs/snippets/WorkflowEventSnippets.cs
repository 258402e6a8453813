using MassTransit;
using MassTransit.Patterns.Workflow;   // WorkflowEventClient, the person API
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class WorkflowEventSnippets
{
    public static void TurnItOn(IServiceCollection services)
    {
        // begin-snippet: workflow-event-turn-it-on
        services.AddMassTransit(x =>
        {
            x.AddWorkflowEventProcessor(o => o.MaxRepairAttempts = 3)                        // saga + person API on queue o.QueueName ("workflow-repair")
                .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<AppDb>());      // AppDb.OnModelCreating: modelBuilder.AddWorkflowEventEntities();
            x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>();                      // IMessageRepairer<PlaceOrder>, tried in registration order
            x.AddConsumer<PlaceOrderConsumer>(c => c.UseMessageRetry(r => r.Immediate(2)))    // optional: MassTransit's retry runs inside, its give-ups are handed off
                .Endpoint(e => e.AddConfigureEndpointCallback((ctx, cfg) =>
                    cfg.UseWorkflowEvent(ctx, o => o.Delegate<ValidationException>())));       // or in a consumer definition
        });
        // end-snippet
    }

    public static async Task Person(IServiceProvider provider, Guid id, string newBody)
    {
        // begin-snippet: workflow-event-person
        // a person (the API a web page calls); the client follows o.QueueName
        // (in a process without the processor: new WorkflowEventClient(bus, new Uri("queue:workflow-repair")))
        var client = provider.GetRequiredService<WorkflowEventClient>();
        var waiting = await client.ListAsync("AwaitingPerson");
        var details = await client.InspectAsync(id);
        var edited = await client.EditAsync(id, newBody, "alice", "customer confirmed", expectedVersion: details.Version);
        if (edited.Refusal == WorkflowCommandRefusal.Stale)       // someone changed it since: reload, edit again
            return;                                                // (Invalid: the body does not deserialize, Reason says why)
        await client.ResubmitAsync(id, "alice");
        await client.DiscardAsync(id, "bob", "duplicate");
        await client.RestoreAsync(id, "carol", "not a duplicate");  // Discarded -> AwaitingPerson
        // end-snippet
    }

    public static void HoldByKey(IBusRegistrationConfigurator x, IReceiveEndpointConfigurator e, IRegistrationContext context)
    {
        // begin-snippet: workflow-event-hold-by-key
        x.AddWorkflowEventHoldByKey();
        // on the endpoint: while a message of an account is in the workflow, its later messages wait behind it
        e.UseWorkflowEvent(context, o => o.HoldByKey<Deposit>(m => m.AccountId));
        // end-snippet
    }

    public static void Readme(IBusRegistrationConfigurator x)
    {
        // begin-snippet: readme-workflow-event
        x.AddWorkflowEventProcessor();                                      // the repair saga (any saga repository)
        x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>();        // your IMessageRepairer<PlaceOrder>
        x.AddConsumer<PlaceOrderConsumer>().Endpoint(e => e.AddConfigureEndpointCallback((ctx, cfg) =>
            cfg.UseWorkflowEvent(ctx, o => o.Delegate<ValidationException>())));   // poison goes to the saga, not _error
        // end-snippet
    }
}
