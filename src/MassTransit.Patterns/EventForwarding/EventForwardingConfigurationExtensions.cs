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
    /// when it was not called). On RabbitMQ use the RabbitMQ overload, which adds the broker's checks,
    /// persistent and confirmed sends and quorum queues; call it before <c>ConfigureEndpoints</c>.
    /// </summary>
    /// <returns>The start-up check, to which a transport package adds its own checks.</returns>
    public static EventForwardingStartupCheck UseEventForwarding(this IBusFactoryConfigurator configurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(context);

        var options = ResolveOptions(context);
        var check = new EventForwardingStartupCheck(options, CreateLogger(context), () => context.GetService<IBusInstance>());
        check.Add(TransportCheck);
        configurator.ConnectBusObserver(check);
        return check;
    }

    /// <summary>The registered options (validated now, so a bad one fails the bus configuration naming it), or the defaults.</summary>
    public static EventForwardingOptions ResolveOptions(IServiceProvider provider) =>
        (provider.GetService<IOptions<EventForwardingOptions>>()?.Value ?? new EventForwardingOptions()).EnsureValid();

    /// <summary>The event forwarding logger from the container, or a null logger.</summary>
    public static ILogger CreateLogger(IServiceProvider provider) =>
        provider.GetService<ILoggerFactory>()?.CreateLogger(LoggerCategory) ?? NullLogger.Instance;

    static IEnumerable<EventForwardingViolation> TransportCheck(EventForwardingCheckContext context)
    {
        var host = context.BusInstance?.HostConfiguration;
        if (host is not null && host.GetType().Name.StartsWith("InMemory", StringComparison.Ordinal))
            yield return new EventForwardingViolation("transport", "the in-memory transport keeps queued messages in process memory: a crash loses them " +
                "(no broker confirms, no persistence). Use it for tests; run a broker for the guarantee.", EventForwardingViolationSeverity.Warning);
    }
}
