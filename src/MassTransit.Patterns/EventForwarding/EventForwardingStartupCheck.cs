using MassTransit.Transports;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// Runs when the bus starts (a bus observer) and looks for settings that undo the event forwarding
/// guarantee: publisher confirms off, non-durable or auto-deleted queues, acknowledgement before the
/// consumer ran, and so on (the transport packages add their checks with <see cref="Add"/>). Each
/// violation is logged and counted on <c>masstransit.patterns.event_forwarding.violations</c>; with
/// <see cref="EventForwardingViolationAction.Fail"/> an error-level violation stops the bus start with
/// <see cref="EventForwardingViolationException"/>. One per container, registered by <c>AddEventForwarding</c>
/// and applied to the bus by <c>UseEventForwarding</c>: resolve it from the container to read what the last start found.
/// </summary>
public sealed partial class EventForwardingStartupCheck : IBusObserver
{
    readonly List<Func<EventForwardingCheckContext, IEnumerable<EventForwardingViolation>>> _checks = [];
    readonly Func<IBusInstance?> _busInstance;
    readonly ILogger _logger;

    /// <summary>Creates the check; <paramref name="busInstance"/> resolves the container's bus instance when the bus starts.</summary>
    internal EventForwardingStartupCheck(EventForwardingOptions options, ILogger logger, Func<IBusInstance?> busInstance, EventForwardingMetrics metrics)
    {
        Options = options;
        _logger = logger;
        _busInstance = busInstance;
        Metrics = metrics;
    }

    /// <summary>The container's event forwarding instruments, where the violations are counted.</summary>
    internal EventForwardingMetrics Metrics { get; }

    /// <summary>The options the check reports with.</summary>
    public EventForwardingOptions Options { get; }

    /// <summary>The violations found by the last run (empty before the bus starts).</summary>
    public IReadOnlyList<EventForwardingViolation> Violations { get; private set; } = [];

    /// <summary>
    /// The transport whose own settings are checked (set by the transport package's
    /// <c>UseEventForwarding</c> through <see cref="AddTransport"/>); null when only the
    /// transport-agnostic checks run. On a broker transport with no transport checks the start is
    /// refused: see <see cref="EventForwardingConfigurationExtensions.UseEventForwarding"/>.
    /// </summary>
    public string? Transport { get; private set; }

    /// <summary>Adds a check, run when the bus starts.</summary>
    internal EventForwardingStartupCheck Add(Func<EventForwardingCheckContext, IEnumerable<EventForwardingViolation>> check)
    {
        ArgumentNullException.ThrowIfNull(check);
        _checks.Add(check);
        return this;
    }

    /// <summary>
    /// Adds the checks of a transport package and records that <paramref name="transport"/>'s own
    /// settings (publisher confirms, queues, sends...) are checked on this bus.
    /// </summary>
    internal EventForwardingStartupCheck AddTransport(string transport, params Func<EventForwardingCheckContext, IEnumerable<EventForwardingViolation>>[] checks)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(transport);
        ArgumentNullException.ThrowIfNull(checks);
        if (Transport is not null && Transport != transport)
            throw new ConfigurationException($"Event forwarding: the checks of {Transport} are already applied to this bus; {transport}'s cannot be added too.");
        Transport = transport;
        foreach (var check in checks)
            Add(check);
        return this;
    }

    /// <summary>Runs every check against <paramref name="bus"/>, logs and counts what it finds, and throws when the options say to fail.</summary>
    internal IReadOnlyList<EventForwardingViolation> Run(IBus bus)
    {
        IBusInstance? instance;
        try
        {
            instance = _busInstance();
        }
        catch (Exception exception) when (exception is InvalidOperationException or ObjectDisposedException)
        {
            instance = null;
        }

        if (instance is not null && !ReferenceEquals(instance.BusControl, bus) && !ReferenceEquals(instance.Bus, bus))
            instance = null;

        var context = new EventForwardingCheckContext(bus, instance);
        var violations = _checks.SelectMany(check => check(context)).ToList();
        Violations = violations;
        Report(violations, Options, _logger, Metrics, "start-up");
        return violations;
    }

    /// <summary>
    /// Logs and counts <paramref name="violations"/>, then throws <see cref="EventForwardingViolationException"/>
    /// when one is an error and <see cref="EventForwardingOptions.OnViolation"/> is <see cref="EventForwardingViolationAction.Fail"/>.
    /// </summary>
    internal static void Report(IReadOnlyList<EventForwardingViolation> violations, EventForwardingOptions options, ILogger logger, EventForwardingMetrics metrics,
        string when)
    {
        foreach (var violation in violations)
        {
            metrics.Violations.Add(1,
                new KeyValuePair<string, object?>("masstransit.patterns.setting", violation.Setting),
                new KeyValuePair<string, object?>("masstransit.patterns.severity", violation.Severity == EventForwardingViolationSeverity.Error ? "error" : "warning"));
            if (violation.Severity == EventForwardingViolationSeverity.Error)
                LogViolation(logger, when, violation.Setting, violation.Problem);
            else
                LogWeakened(logger, when, violation.Setting, violation.Problem);
        }

        var errors = violations.Where(v => v.Severity == EventForwardingViolationSeverity.Error).ToList();
        if (errors.Count > 0 && options.OnViolation == EventForwardingViolationAction.Fail)
            throw new EventForwardingViolationException(errors);
    }

    Task IBusObserver.PreStart(IBus bus)
    {
        Run(bus);
        return Task.CompletedTask;
    }

    void IBusObserver.PostCreate(IBus bus)
    {
    }

    void IBusObserver.CreateFaulted(Exception exception)
    {
    }

    Task IBusObserver.PostStart(IBus bus, Task<BusReady> busReady) => Task.CompletedTask;

    Task IBusObserver.StartFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    Task IBusObserver.PreStop(IBus bus) => Task.CompletedTask;

    Task IBusObserver.PostStop(IBus bus) => Task.CompletedTask;

    Task IBusObserver.StopFaulted(IBus bus, Exception exception) => Task.CompletedTask;

    [LoggerMessage(EventId = 4101, Level = LogLevel.Error, Message = "Event forwarding ({When}): {Setting} undoes the guarantee: {Problem}")]
    static partial void LogViolation(ILogger logger, string when, string setting, string problem);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Event forwarding ({When}): {Setting} weakens the guarantee: {Problem}")]
    static partial void LogWeakened(ILogger logger, string when, string setting, string problem);
}
