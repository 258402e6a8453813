using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Supervisor;

/// <summary>
/// The first filter of a supervised endpoint's receive pipe: a delivery waits here, before it is
/// deserialized or reaches any consumer, until the supervisor's current limit admits it.
/// </summary>
sealed class SupervisorGateFilter(ElasticConcurrencyLimit gate) : IFilter<ReceiveContext>
{
    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        await gate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            await next.Send(context).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    public void Probe(ProbeContext context)
    {
        var scope = context.CreateFilterScope("supervisor");
        scope.Add("limit", gate.Limit);
        scope.Add("active", gate.Active);
        scope.Add("waiting", gate.Waiting);
    }
}
