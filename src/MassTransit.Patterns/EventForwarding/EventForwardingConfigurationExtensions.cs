using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MassTransit;

/// <summary>Registers and applies event forwarding (no message lost, no effect applied twice).</summary>
public static class EventForwardingConfigurationExtensions
{
    /// <summary>The logger category of event forwarding.</summary>
    public const string LoggerCategory = "MassTransit.Patterns.EventForwarding";

    /// <summary>
    /// Registers <see cref="EventForwardingOptions"/> (validated when the host starts),
    /// <see cref="IEventForwarder"/>, the producer's confirmed send, and the <see cref="EventForwardingStartupCheck"/>
    /// that <c>UseEventForwarding</c> applies to the bus (resolve it to read the violations the last start found). Call it in <c>AddMassTransit</c>;
    /// the EF Core outbox registration calls it too.
    /// </summary>
    public static IServiceCollection AddEventForwarding(this IServiceCollection services, Action<EventForwardingOptions>? configure = null)
    {
        services.AddPatternOptions(configure);
        PatternsMeter.Register(services);
        services.TryAddSingleton<EventForwardingMetrics>();
        services.TryAddSingleton(provider => provider.GetRequiredService<EventForwardingMetrics>().Totals);
        services.TryAddSingleton<IEventForwarder, EventForwarder>();
        services.TryAddSingleton(provider => CreateStartupCheck(provider));
        return services;
    }

    /// <summary>
    /// Applies event forwarding to a bus on any transport: the start-up check that fails (or warns)
    /// when a setting undoes the guarantee. Options come from <see cref="AddEventForwarding"/> (defaults
    /// when it was not called). On RabbitMQ the RabbitMQ overload (package
    /// MassTransit.Patterns.RabbitMQ, also in namespace <c>MassTransit</c>) binds instead, and adds the broker's checks, persistent
    /// and confirmed sends and quorum queues; call it before <c>ConfigureEndpoints</c>. Which overload
    /// the compiler binds depends on the usings, so this one refuses a RabbitMQ bus (found by its
    /// address when the bus starts) that the RabbitMQ overload did not configure: an
    /// <see cref="EventForwardingViolationSeverity.Error"/> violation naming the fix. On a transport
    /// no package checks (other than in-memory) it reports a warning.
    /// </summary>
    public static void UseEventForwarding(this IBusFactoryConfigurator configurator, IRegistrationContext context) =>
        Apply(configurator, context);

    /// <summary>
    /// Applies the transport-agnostic part (the container's start-up check, or a new one when
    /// <see cref="AddEventForwarding"/> was not called) and returns the check, to which a transport package adds its own.
    /// </summary>
    internal static EventForwardingStartupCheck Apply(IBusFactoryConfigurator configurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);

        var check = context.GetService<EventForwardingStartupCheck>() ?? CreateStartupCheck(context);
        check.Add(c => TransportCheck(c, check.Transport));
        configurator.ConnectBusObserver(check);
        return check;
    }

    static EventForwardingStartupCheck CreateStartupCheck(IServiceProvider provider) =>
        new(ResolveOptions(provider), CreateLogger(provider), () => provider.GetService<IBusInstance>(), EventForwardingMetrics.From(provider));

    /// <summary>The registered options (validated now, so a bad one fails the bus configuration naming it), or the defaults.</summary>
    internal static EventForwardingOptions ResolveOptions(IServiceProvider provider) =>
        (provider.GetService<IOptions<EventForwardingOptions>>()?.Value ?? new EventForwardingOptions()).EnsureValid();

    /// <summary>The event forwarding logger from the container, or a null logger.</summary>
    internal static ILogger CreateLogger(IServiceProvider provider) =>
        provider.GetService<ILoggerFactory>()?.CreateLogger(LoggerCategory) ?? NullLogger.Instance;

    /// <summary>
    /// What the transport-agnostic checks can say about the transport, from the bus address's scheme
    /// (public, whatever package configured the bus): in-memory is a warning; a transport whose package
    /// checks were not applied is an error on RabbitMQ (its package has them) and a warning elsewhere.
    /// </summary>
    static IEnumerable<EventForwardingViolation> TransportCheck(EventForwardingCheckContext context, string? checkedTransport)
    {
        var scheme = context.Bus.Address.Scheme;
        if (scheme == "loopback")
        {
            yield return new EventForwardingViolation("transport", "the in-memory transport keeps queued messages in process memory: a crash loses them " +
                "(no broker confirms, no persistence). Use it for tests; run a broker for the guarantee.", EventForwardingViolationSeverity.Warning);
            yield break;
        }
        if (checkedTransport is not null)
            yield break;

        if (scheme is "rabbitmq" or "rabbitmqs")
            yield return new EventForwardingViolation("transport RabbitMQ: the RabbitMQ checks were not applied",
                "cfg.UseEventForwarding(context) bound the transport-agnostic overload, which cannot see publisher confirms, queue settings or " +
                "non-persistent sends. Reference the package MassTransit.Patterns.RabbitMQ and call UseEventForwarding on the RabbitMQ " +
                "configurator (IRabbitMqBusFactoryConfigurator), so that its RabbitMQ overload binds.");
        else
            yield return new EventForwardingViolation($"transport {scheme}: no transport checks",
                $"no package checks the settings of the '{scheme}' transport (confirmed sends, durable queues): only the transport-agnostic " +
                "checks run.", EventForwardingViolationSeverity.Warning);
    }
}
