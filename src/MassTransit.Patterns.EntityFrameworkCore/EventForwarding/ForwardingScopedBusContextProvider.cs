using MassTransit.Clients;
using MassTransit.DependencyInjection;
using MassTransit.Middleware;
using MassTransit.Middleware.Outbox;
using MassTransit.Transports;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The bus as seen from a scope with no message being consumed (an API handler): the
/// <see cref="ISendEndpointProvider"/> and <see cref="IPublishEndpoint"/> resolved in the scope write
/// outbox rows into the scope's <typeparamref name="TDbContext"/>, which the handler's own
/// <c>SaveChanges</c> commits with its writes. Inside a consumer the consume context is used, as
/// MassTransit does (and under the outbox filter that one writes rows too).
/// </summary>
sealed class ForwardingScopedBusContextProvider<TDbContext> : IScopedBusContextProvider<IBus>, IDisposable
    where TDbContext : DbContext
{
    public ForwardingScopedBusContextProvider(IBus bus, TDbContext db, Bind<IBus, IClientFactory> clientFactory,
        Bind<IBus, IScopedConsumeContextProvider> consumeContextProvider, IServiceProvider provider, OutboxDeliverySignal<TDbContext> signal)
    {
        Context = consumeContextProvider.Value.HasContext
            ? new ConsumeContextScopedBusContext(consumeContextProvider.Value.GetContext(), clientFactory.Value)
            : new OutboxScopedBusContext<TDbContext>(bus, db, clientFactory.Value, provider, signal);
    }

    public ScopedBusContext Context { get; }

    public void Dispose() => (Context as IDisposable)?.Dispose();
}
