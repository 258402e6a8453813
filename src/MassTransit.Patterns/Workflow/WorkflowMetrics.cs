using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Workflow;

/// <summary>The workflow event's instruments on the <c>MassTransit.Patterns</c> meter.</summary>
static class WorkflowMetrics
{
    public const string Prefix = PatternsDiagnostics.InstrumentPrefix + "workflow.";

    static readonly Counter<long> DelegatedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "delegated", "{message}", "Failed messages handed to the workflow processor (the original acknowledged).");
    static readonly Counter<long> MalformedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "malformed", "{message}", "Bodies that could not be deserialized, captured with their raw bytes.");
    static readonly Counter<long> HandOffFailedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "handoff_failures", "{message}", "Hand-offs to the processor that failed (the message took the normal error path).");
    static readonly Counter<long> ResubmittedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "resubmitted", "{message}", "Copies resubmitted to their source queue (by a repairer or a person).");
    static readonly Counter<long> RepairedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "repaired", "{message}", "Messages repaired automatically and then processed successfully.");
    static readonly Counter<long> ResolvedByPersonCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "resolved_by_person", "{message}", "Messages a person resubmitted that were then processed successfully.");
    static readonly Counter<long> WaitingCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "waiting_for_person", "{message}", "Times a message started waiting for a person.");
    static readonly Counter<long> DiscardedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "discarded", "{message}", "Messages discarded by a repairer or a person.");
    static readonly Counter<long> PersonActionsCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "person_actions", "{command}", "Commands of a person applied (edit, resubmit, discard).");

    static readonly Counter<long> HeldCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "held", "{message}", "Messages held behind an earlier message of their key (hold by key).");
    static readonly Counter<long> ReleasedCounter = PatternsDiagnostics.Meter.CreateCounter<long>(
        Prefix + "released", "{message}", "Held messages released, in order, after their key's leader was resolved.");

    static readonly KeyValuePair<string, object?> Pattern = new(PatternsTags.Pattern, "workflow");

    static TagList Tags(string? queue) => new() { Pattern, { PatternsTags.Queue, queue } };

    public static void Held(string? queue) => HeldCounter.Add(1, Tags(queue));

    public static void Released(string? queue, int count) => ReleasedCounter.Add(count, Tags(queue));

    public static void Delegated(string? queue) => DelegatedCounter.Add(1, Tags(queue));

    public static void Malformed(string? queue) => MalformedCounter.Add(1, Tags(queue));

    public static void HandOffFailed(string? queue) => HandOffFailedCounter.Add(1, Tags(queue));

    public static void Resubmitted(string? queue, string by)
    {
        var tags = Tags(queue);
        tags.Add(PatternsTags.Source, by);
        ResubmittedCounter.Add(1, tags);
    }

    public static void Repaired(string? queue) => RepairedCounter.Add(1, Tags(queue));

    public static void ResolvedByPerson(string? queue) => ResolvedByPersonCounter.Add(1, Tags(queue));

    public static void Waiting(string? queue) => WaitingCounter.Add(1, Tags(queue));

    public static void Discarded(string? queue) => DiscardedCounter.Add(1, Tags(queue));

    public static void PersonAction(string action) => PersonActionsCounter.Add(1, Pattern, new KeyValuePair<string, object?>(PatternsTags.Outcome, action));
}
