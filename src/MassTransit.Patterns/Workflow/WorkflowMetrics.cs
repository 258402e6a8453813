using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The workflow event's instruments, named <c>masstransit.patterns.workflow.*</c>, on the container's
/// <c>MassTransit.Patterns</c> meter: one per container, registered by <c>AddWorkflowEventProcessor</c>
/// and <c>AddWorkflowEventHoldByKey</c> (an endpoint's <c>UseWorkflowEvent</c> uses it, or makes its own
/// from the container's meter factory).
/// </summary>
public sealed class WorkflowMetrics
{
    /// <summary>The prefix of every workflow instrument's name.</summary>
    public const string Prefix = PatternsDiagnostics.InstrumentPrefix + "workflow.";

    static readonly KeyValuePair<string, object?> Pattern = new(PatternsTags.Pattern, "workflow");

    readonly Counter<long> _delegated;
    readonly Counter<long> _malformed;
    readonly Counter<long> _handOffFailed;
    readonly Counter<long> _resubmitted;
    readonly Counter<long> _repaired;
    readonly Counter<long> _resolvedByPerson;
    readonly Counter<long> _waiting;
    readonly Counter<long> _discarded;
    readonly Counter<long> _personActions;
    readonly Counter<long> _held;
    readonly Counter<long> _released;

    internal WorkflowMetrics(PatternsMeter patternsMeter)
    {
        ArgumentNullException.ThrowIfNull(patternsMeter);
        var meter = patternsMeter.Meter;
        _delegated = meter.CreateCounter<long>(
            Prefix + "delegated", "{message}", "Failed messages handed to the workflow processor (the original acknowledged).");
        _malformed = meter.CreateCounter<long>(
            Prefix + "malformed", "{message}", "Bodies that could not be deserialized, captured with their raw bytes.");
        _handOffFailed = meter.CreateCounter<long>(
            Prefix + "handoff_failures", "{message}", "Hand-offs to the processor that failed (the message took the normal error path).");
        _resubmitted = meter.CreateCounter<long>(
            Prefix + "resubmitted", "{message}", "Copies resubmitted to their source queue (by a repairer or a person).");
        _repaired = meter.CreateCounter<long>(
            Prefix + "repaired", "{message}", "Messages repaired automatically and then processed successfully.");
        _resolvedByPerson = meter.CreateCounter<long>(
            Prefix + "resolved_by_person", "{message}", "Messages a person resubmitted that were then processed successfully.");
        _waiting = meter.CreateCounter<long>(
            Prefix + "waiting_for_person", "{message}", "Times a message started waiting for a person.");
        _discarded = meter.CreateCounter<long>(
            Prefix + "discarded", "{message}", "Messages discarded by a repairer or a person.");
        _personActions = meter.CreateCounter<long>(
            Prefix + "person_actions", "{command}", "Commands of a person applied (edit, resubmit, discard, restore).");
        _held = meter.CreateCounter<long>(
            Prefix + "held", "{message}", "Messages held behind an earlier message of their key (hold by key).");
        _released = meter.CreateCounter<long>(
            Prefix + "released", "{message}", "Held messages released, in order, after their key's leader was resolved.");
    }

    /// <summary>The container's metrics, or new ones on its meter when no <c>AddWorkflowEvent...</c> registered them.</summary>
    internal static WorkflowMetrics From(IServiceProvider provider) =>
        PatternsMeter.Metrics(provider, meter => new WorkflowMetrics(meter));

    /// <summary>Registers the container's metrics (and its meter).</summary>
    internal static void Register(IServiceCollection services)
    {
        PatternsMeter.Register(services);
        // The constructor is internal, so the container gets a factory.
        services.TryAdd(ServiceDescriptor.Singleton(sp => new WorkflowMetrics(sp.GetRequiredService<PatternsMeter>())));
    }

    static TagList Tags(string? queue) => new() { Pattern, { PatternsTags.Queue, queue } };

    internal void Held(string? queue) => _held.Add(1, Tags(queue));

    internal void Released(string? queue, int count) => _released.Add(count, Tags(queue));

    internal void Delegated(string? queue) => _delegated.Add(1, Tags(queue));

    internal void Malformed(string? queue) => _malformed.Add(1, Tags(queue));

    internal void HandOffFailed(string? queue) => _handOffFailed.Add(1, Tags(queue));

    internal void Resubmitted(string? queue, string by)
    {
        var tags = Tags(queue);
        tags.Add(PatternsTags.Source, by);
        _resubmitted.Add(1, tags);
    }

    internal void Repaired(string? queue) => _repaired.Add(1, Tags(queue));

    internal void ResolvedByPerson(string? queue) => _resolvedByPerson.Add(1, Tags(queue));

    internal void Waiting(string? queue) => _waiting.Add(1, Tags(queue));

    internal void Discarded(string? queue) => _discarded.Add(1, Tags(queue));

    internal void PersonAction(string action) => _personActions.Add(1, Pattern, new KeyValuePair<string, object?>(PatternsTags.Outcome, action));
}
