using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>Registers and applies event forwarding (no message lost, no effect applied twice).</summary>
public static class EventForwardingConfigurationExtensions
{
    /// <summary>The logger category of event forwarding.</summary>
    public const string LoggerCategory = "MassTransit.Patterns.EventForwarding";

    /// <summary>
    /// Registers <see cref="EventForwardingOptions"/> (validated when the host starts) and
    /// <see cref="IEventForwarder"/>, the producer's confirmed send. Call it in <c>AddMassTransit</c>;
    /// the EF Core outbox registration calls it too.
    /// </summary>
    public static IServiceCollection AddEventForwarding(this IServiceCollection services, Action<EventForwardingOptions>? configure = null)
    {
        services.AddPatternOptions(configure);
        services.TryAddSingleton<IEventForwarder, EventForwarder>();
        return services;
    }

    /// <summary>
    /// Applies event forwarding to a bus on any transport: the start-up check that fails (or warns)
    /// when a setting undoes the guarantee. Options come from <see cref="AddEventForwarding"/> (defaults
    /// when it was not called). On RabbitMQ use the RabbitMQ overload (<c>using
    /// MassTransit.Patterns.RabbitMQ.EventForwarding;</c>), which adds the broker's checks, persistent
    /// and confirmed sends and quorum queues; call it before <c>ConfigureEndpoints</c>. Which overload
    /// the compiler binds depends on the usings, so this one refuses a RabbitMQ bus (found by its
    /// address when the bus starts) that the RabbitMQ overload did not configure: an
    /// <see cref="EventForwardingViolationSeverity.Error"/> violation naming the fix. On a transport
    /// no package checks (other than in-memory) it reports a warning.
    /// </summary>
    /// <returns>The start-up check, to which a transport package adds its own checks.</returns>
    public static EventForwardingStartupCheck UseEventForwarding(this IBusFactoryConfigurator configurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);

        var options = ResolveOptions(context);
        var check = new EventForwardingStartupCheck(options, CreateLogger(context), () => context.GetService<IBusInstance>());
        check.Add(c => TransportCheck(c, check.Transport));
        configurator.ConnectBusObserver(check);
        return check;
    }

    /// <summary>The registered options (validated now, so a bad one fails the bus configuration naming it), or the defaults.</summary>
    public static EventForwardingOptions ResolveOptions(IServiceProvider provider) =>
        (provider.GetService<IOptions<EventForwardingOptions>>()?.Value ?? new EventForwardingOptions()).EnsureValid();

    /// <summary>The event forwarding logger from the container, or a null logger.</summary>
    public static ILogger CreateLogger(IServiceProvider provider) =>
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
                "non-persistent sends. Add `using MassTransit.Patterns.RabbitMQ.EventForwarding;` where the bus is configured, so that the " +
                "RabbitMQ overload binds (package MassTransit.Patterns.RabbitMQ).");
        else
            yield return new EventForwardingViolation($"transport {scheme}: no transport checks",
                $"no package checks the settings of the '{scheme}' transport (confirmed sends, durable queues): only the transport-agnostic " +
                "checks run.", EventForwardingViolationSeverity.Warning);
    }
}
