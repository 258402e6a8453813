using MassTransit.Patterns.Ambulance;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit;

/// <summary>
/// <c>cfg.UseAmbulanceLane(context, a => ...)</c>: a priority lane beside chosen queues, and the
/// send-side classifier that marks urgent messages. Call it before <c>ConfigureEndpoints</c>.
/// </summary>
public static class AmbulanceConfigurationExtensions
{
    /// <summary>
    /// Adds the ambulance lane on the in-memory transport (and under the test harness).
    /// </summary>
    /// <param name="configurator">The bus being configured.</param>
    /// <param name="context">The bus registration context (the lanes' consumers and sagas are found through it).</param>
    /// <param name="configure">
    /// Which messages are urgent and which queues get a lane; without it, only the lanes that consumer and saga
    /// definitions ask for (<see cref="IAmbulanceLaneDefinition"/>), and only <see cref="UrgentAttribute"/> and
    /// <c>SetUrgent()</c> mark messages.
    /// </param>
    /// <example>
    /// <code>
    /// x.UsingInMemory((context, cfg) =>
    /// {
    ///     cfg.UseAmbulanceLane(context, a =>
    ///     {
    ///         a.Urgent&lt;PlaceOrder&gt;(m => m.Express);
    ///         a.Endpoint("orders", lane => lane.ConcurrentMessageLimit = 2);
    ///     });
    ///     cfg.ConfigureEndpoints(context);
    /// });
    /// </code>
    /// </example>
    public static void UseAmbulanceLane(this IInMemoryBusFactoryConfigurator configurator, IRegistrationContext context,
        Action<AmbulanceConfigurator>? configure = null) =>
        AmbulanceLaneSetup.Apply(configurator, context, configure, InMemoryAmbulanceLaneTransport.Instance);

    /// <summary>
    /// Adds the ambulance lane on any transport: the transport's lane topology is taken from
    /// <see cref="AmbulanceConfigurator.Transport"/> (in-memory is recognised). A bus that only
    /// classifies (no <c>Endpoint</c>) needs no transport topology.
    /// </summary>
    /// <param name="configurator">The bus being configured.</param>
    /// <param name="context">The bus registration context (the lanes' consumers and sagas are found through it).</param>
    /// <param name="configure">Which messages are urgent and which queues get a lane.</param>
    public static void UseAmbulanceLane(this IBusFactoryConfigurator configurator, IRegistrationContext context,
        Action<AmbulanceConfigurator>? configure = null) =>
        AmbulanceLaneSetup.Apply(configurator, context, configure,
            configurator is IInMemoryBusFactoryConfigurator ? InMemoryAmbulanceLaneTransport.Instance : null);

    /// <summary>
    /// Registers an <see cref="AmbulanceLaneRegistry"/>: every lane <c>UseAmbulanceLane</c> configures in this container
    /// adds itself, so the lanes' depth, slot budget and urgent waits can be read (the dashboard's ambulance page, tests).
    /// Optional; call it beside <c>AddMassTransit</c>.
    /// </summary>
    public static IServiceCollection AddAmbulanceLaneRegistry(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<AmbulanceLaneRegistry>();
        return services;
    }
}
