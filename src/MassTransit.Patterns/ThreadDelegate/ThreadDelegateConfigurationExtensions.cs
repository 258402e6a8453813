using System.Runtime.CompilerServices;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit;

/// <summary>Turns on the thread delegate pattern: per-key order with parallel lanes.</summary>
public static class ThreadDelegateConfigurationExtensions
{
    static readonly ConditionalWeakTable<IReceiveEndpointConfigurator, ThreadDelegateSpecification> Specifications = new();

    /// <summary>
    /// Orders this endpoint's messages by key: messages with the same key complete one at a time in
    /// delivery order, different keys run in parallel on <see cref="ThreadDelegateOptions.Workers"/>
    /// lanes. Name each ordered message type and its key with <c>o.Key&lt;T&gt;(m =&gt; m.AccountId)</c>.
    /// Call it again on the same endpoint (for instance from each consumer's definition) to add message
    /// types: the calls share one set of options and lanes. Retry configured with <c>UseMessageRetry</c>
    /// runs inside the lane, so a retried message keeps its key's place. The transport's delivery order
    /// is chosen with <see cref="ThreadDelegateOptions.DeliveryOrder"/> (needed on every transport but
    /// the in-memory one: on RabbitMQ <c>o.UseRabbitMqDeliveryOrder()</c>); without it start-up fails.
    /// </summary>
    /// <param name="configurator">The receive endpoint.</param>
    /// <param name="context">The bus registration context (the metrics come from its container).</param>
    /// <param name="configure">Names the keys and sets the options.</param>
    public static void UseThreadDelegate(this IReceiveEndpointConfigurator configurator, IRegistrationContext context, Action<ThreadDelegateOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(configure);

        var specification = Specifications.GetValue(configurator, c =>
        {
            var metrics = PatternsMeter.Metrics(context, meter => new ThreadDelegateMetrics(meter));
            var created = new ThreadDelegateSpecification(c, metrics);
            c.ConfigureReceive(r => r.AddPipeSpecification(created));
            c.AddPrePipeSpecification(created.ConsumeSpecification);
            c.ConnectReceiveEndpointObserver(created);
            return created;
        });

        var options = specification.Options;
        configure(options);
        EndpointClaims.Claim(configurator, "UseThreadDelegate", EndpointTakeover.Concurrency | EndpointTakeover.DeliveryOrder, EndpointTakeover.None,
            "runs each key's messages one at a time in this endpoint's delivery order, within a concurrent message limit and prefetch of Workers + MaxBuffered (its delivery buffer)");

        if (options.ConfigureTransportConcurrency && options.Workers > 0 && options.EffectiveMaxBuffered > 0)
        {
            // The transport's concurrent deliveries are the delivery buffer: Workers running + MaxBuffered waiting.
            var limit = options.Workers + options.EffectiveMaxBuffered;
            configurator.ConcurrentMessageLimit = limit;
            if (configurator.PrefetchCount < limit)
                configurator.PrefetchCount = limit;
        }
    }

    /// <summary>Orders messages of type <typeparamref name="T"/> by <paramref name="key"/> (see the other overload).</summary>
    public static void UseThreadDelegate<T>(this IReceiveEndpointConfigurator configurator, IRegistrationContext context, Func<T, string?> key,
        Action<ThreadDelegateOptions>? configure = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        configurator.UseThreadDelegate(context, o =>
        {
            o.Key(key);
            configure?.Invoke(o);
        });
    }
}
