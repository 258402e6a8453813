using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// The event forwarding instruments of the core package on the container's <c>MassTransit.Patterns</c> meter
/// (a DI singleton registered by <c>AddEventForwarding</c>).
/// </summary>
sealed class EventForwardingMetrics
{
    public const string Prefix = PatternsDiagnostics.InstrumentPrefix + "event_forwarding.";

    public EventForwardingMetrics(PatternsMeter patternsMeter)
    {
        ArgumentNullException.ThrowIfNull(patternsMeter);
        var meter = patternsMeter.Meter;
        Confirmed = meter.CreateCounter<long>(Prefix + "send.confirmed", "{message}",
            "Sends confirmed by the broker through the event forwarding send policy (producer sends and outbox deliveries).");
        Resends = meter.CreateCounter<long>(Prefix + "send.resends", "{message}",
            "Sends repeated with the same message id because the previous attempt failed or was not confirmed in time.");
        Unconfirmed = meter.CreateCounter<long>(Prefix + "send.unconfirmed", "{message}",
            "Sends given up after every allowed resend (MessageNotConfirmedException).");
        Violations = meter.CreateCounter<long>(Prefix + "violations", "{violation}",
            "Settings found at start-up, or sends seen at run time, that undo or weaken the event forwarding guarantee.");
    }

    /// <summary>The same counts kept readable in place (for the operations view).</summary>
    public EventForwardingTotals Totals { get; } = new();

    public Counter<long> Confirmed { get; }

    public Counter<long> Resends { get; }

    public Counter<long> Unconfirmed { get; }

    public Counter<long> Violations { get; }

    /// <summary>The container's metrics, or new ones on its meter when <c>AddEventForwarding</c> was not called.</summary>
    public static EventForwardingMetrics From(IServiceProvider provider) =>
        PatternsMeter.Metrics(provider, meter => new EventForwardingMetrics(meter));

    public static KeyValuePair<string, object?> SourceTag(string source) => new(PatternsTags.Source, source);
}
