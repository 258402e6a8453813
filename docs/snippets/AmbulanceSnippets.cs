using MassTransit;

namespace MassTransit.Patterns.Docs.Snippets;

public static class AmbulanceSnippets
{
    public static void TurnItOn(IRabbitMqBusFactoryConfigurator cfg, IBusRegistrationContext context)
    {
        // begin-snippet: ambulance-turn-it-on
        cfg.UseAmbulanceLane(context, a => { a.Urgent<PlaceOrder>(o => o.Express); a.Endpoint("orders"); });  // before ConfigureEndpoints
        cfg.ConfigureEndpoints(context);
        // end-snippet
    }

    public static async Task MarkUrgent(ISendEndpoint endpoint, PlaceOrder order)
    {
        // begin-snippet: ambulance-mark-urgent
        await endpoint.Send(order, ctx => ctx.SetUrgent());   // the header MT-Patterns-Urgent: true
        // end-snippet
    }
}
