using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>The event forwarding instruments of the core package, all on <see cref="PatternsDiagnostics.Meter"/>.</summary>
static class EventForwardingDiagnostics
{
    public const string Prefix = PatternsDiagnostics.InstrumentPrefix + "event_forwarding.";

    public static readonly Counter<long> Confirmed = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "send.confirmed", "{message}",
        "Sends confirmed by the broker through the event forwarding send policy (producer sends and outbox deliveries).");

    public static readonly Counter<long> Resends = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "send.resends", "{message}",
        "Sends repeated with the same message id because the previous attempt failed or was not confirmed in time.");

    public static readonly Counter<long> Unconfirmed = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "send.unconfirmed", "{message}",
        "Sends given up after every allowed resend (MessageNotConfirmedException).");

    public static readonly Counter<long> Violations = PatternsDiagnostics.Meter.CreateCounter<long>(Prefix + "violations", "{violation}",
        "Settings found at start-up, or sends seen at run time, that undo or weaken the event forwarding guarantee.");

    public static KeyValuePair<string, object?> SourceTag(string source) => new(PatternsTags.Source, source);
}
