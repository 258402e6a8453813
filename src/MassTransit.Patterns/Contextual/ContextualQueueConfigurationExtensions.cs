using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>
/// <c>services.AddContextualQueues&lt;TMessage&gt;()</c> and <c>cfg.UseContextualQueues&lt;TMessage&gt;(context, x => x.Context(m => m.CustomerId) ...)</c>:
/// a queue per context, created on demand.
/// </summary>
public static class ContextualQueueConfigurationExtensions
{
    /// <summary>
    /// Registers the contextual queues of <typeparamref name="TMessage"/>: the <see cref="ContextualRouting{TMessage}"/> singleton
    /// (producers send to its <see cref="ContextualRouting.RouterAddress"/>; it tells the queue of each context) and the
    /// pattern's metrics. The routing is also registered as <see cref="ContextualRouting"/> (one per message type: the
    /// dashboard reads them all with <c>GetServices&lt;ContextualRouting&gt;()</c>). Call it on the service collection (or inside <c>AddMassTransit</c>); the bus's
    /// <c>UseContextualQueues&lt;TMessage&gt;</c> configures that routing.
    /// </summary>
    /// <example>
    /// <code>
    /// services.AddContextualQueues&lt;PlaceOrder&gt;();
    /// // later, e.g. in a producer: provider.GetRequiredService&lt;ContextualRouting&lt;PlaceOrder&gt;&gt;().RouterAddress
    /// </code>
    /// </example>
    public static IServiceCollection AddContextualQueues<TMessage>(this IServiceCollection services)
        where TMessage : class
    {
        ArgumentNullException.ThrowIfNull(services);
        PatternsMeter.Register(services);
        services.TryAddSingleton(provider => new ContextualMetrics(provider.GetRequiredService<PatternsMeter>()));
        if (services.Any(d => d.ServiceType == typeof(ContextualRouting<TMessage>)))
            return services;
        services.AddSingleton(provider => new ContextualRouting<TMessage>(provider.GetRequiredService<ContextualMetrics>()));
        // The same instance as its base type too, so that every routing of the container can be read (GetServices<ContextualRouting>()).
        services.AddSingleton<ContextualRouting>(provider => provider.GetRequiredService<ContextualRouting<TMessage>>());
        return services;
    }

    /// <summary>
    /// Adds contextual queues for <typeparamref name="TMessage"/> on the in-memory transport (and under the test harness),
    /// configuring the <see cref="ContextualRouting{TMessage}"/> registered by <see cref="AddContextualQueues{TMessage}"/>.
    /// Producers send to its <see cref="ContextualRouting.RouterAddress"/>.
    /// </summary>
    /// <example>
    /// <code>
    /// cfg.UseContextualQueues&lt;PlaceOrder&gt;(context, x => x
    ///     .DefaultQueue("orders")
    ///     .Context(m => m.CustomerId)
    ///     .Endpoint(e => e.ConfigureConsumer&lt;PlaceOrderConsumer&gt;(context)));
    /// </code>
    /// </example>
    public static void UseContextualQueues<TMessage>(this IInMemoryBusFactoryConfigurator configurator, IRegistrationContext context,
        Action<ContextualQueueConfigurator<TMessage>> configure)
        where TMessage : class =>
        ContextualQueueSetup.Apply(configurator, context, configure, InMemoryContextualQueueTransport.Instance);
}
