using System.Diagnostics;
using System.Globalization;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The workflow event's activities on the <c>MassTransit.Patterns</c> source, tying the trace of a repaired message
/// together: the failed attempt's consume is recorded with the failure (<see cref="WorkflowHeaders.FailedTraceParent"/>);
/// the repair (<see cref="Repair"/>: the repairers, and the resubmission when one repaired it) or a person's resubmission
/// (<see cref="Resubmit"/>) links it; the copy they send carries both contexts, and its consume (MassTransit's receive
/// activity, the parent of the consumers' activities) links both. Nothing is recorded without a listener on the sources.
/// </summary>
static class WorkflowTelemetry
{
    /// <summary>The processor runs the repairers for a reported failure (and resubmits the repaired copy).</summary>
    public const string Repair = "workflow.repair";

    /// <summary>The processor resubmits a copy on a person's command.</summary>
    public const string Resubmit = "workflow.resubmit";

    /// <summary>MassTransit's activity source and meter.</summary>
    public const string MassTransitSource = "MassTransit";

    public const string OriginalMessageIdTag = PatternsDiagnostics.InstrumentPrefix + "workflow.original_message_id";
    public const string AttemptTag = PatternsDiagnostics.InstrumentPrefix + "workflow.attempt";
    public const string ResubmittedByTag = PatternsDiagnostics.InstrumentPrefix + "workflow.resubmitted_by";

    /// <summary>The <c>traceparent</c> of <paramref name="activity"/>, when it has a W3C id.</summary>
    public static string? TraceParent(Activity? activity) => activity is { IdFormat: ActivityIdFormat.W3C } ? activity.Id : null;

    /// <summary>Records the failed attempt's consume in a failure report's headers.</summary>
    public static void RecordFailedAttempt(Dictionary<string, string> headers, Activity? attempt)
    {
        if (TraceParent(attempt) is { } traceParent)
            headers[WorkflowHeaders.FailedTraceParent] = traceParent;
    }

    /// <summary>
    /// Starts <paramref name="name"/> in the processor for message <paramref name="originalId"/>, linked to the first failed
    /// attempt and, when it is another one, to the failure being handled.
    /// </summary>
    public static Activity? StartProcessing(string name, Guid originalId, int attempt, string? original, string? failure)
    {
        var source = PatternsDiagnostics.ActivitySource;
        if (!source.HasListeners())
            return null;
        var links = new List<ActivityLink>(2);
        AddLink(links, original);
        if (failure != original)
            AddLink(links, failure);
        var activity = source.StartActivity(name, ActivityKind.Internal, parentContext: default(ActivityContext), links: links);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(OriginalMessageIdTag, originalId.ToString("D"));
            activity.SetTag(AttemptTag, attempt);
        }
        return activity;
    }

    /// <summary>
    /// This delivery's consume: MassTransit's receive activity, current when the endpoint's filters run (null when MassTransit's
    /// source has no listener, whatever else is current).
    /// </summary>
    public static Activity? Consume() => Activity.Current is { Source.Name: MassTransitSource } current ? current : null;

    /// <summary>
    /// For a resubmitted copy: links MassTransit's consume activity of the delivery (<paramref name="consume"/>) to the failed
    /// attempt and to the repair, and tags it with the workflow's id, attempt and who resubmitted it. The consumers' activities
    /// are its children, so the whole consume of the copy hangs off the linked one.
    /// </summary>
    public static void LinkResubmitted(ConsumeContext context, Activity consume, Guid originalId, int attempt)
    {
        if (!consume.IsAllDataRequested)
            return;
        var links = new List<ActivityLink>(2);
        AddLink(links, Header(context, WorkflowHeaders.FailedTraceParent));
        AddLink(links, Header(context, WorkflowHeaders.RepairTraceParent));
        foreach (var link in links)
            consume.AddLink(link);
        consume.SetTag(OriginalMessageIdTag, originalId.ToString("D"));
        consume.SetTag(AttemptTag, attempt);
        if (Header(context, WorkflowHeaders.ResubmittedBy) is { } by)
            consume.SetTag(ResubmittedByTag, by);
    }

    static string? Header(ConsumeContext context, string name) =>
        (context.Headers.TryGetHeader(name, out var value) || context.ReceiveContext.TransportHeaders.TryGetHeader(name, out value))
            ? value switch
            {
                string text => text,
                byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value?.ToString()
            }
            : null;

    static void AddLink(List<ActivityLink> links, string? traceParent)
    {
        if (traceParent is not null && ActivityContext.TryParse(traceParent, null, isRemote: true, out var context))
            links.Add(new ActivityLink(context));
    }
}
