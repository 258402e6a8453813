using System.Globalization;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>Workflow event: messages per state (each linking into the repair console) and the oldest one waiting for a person.</summary>
sealed class WorkflowOperationsPage : OperationsPage<WorkflowOperationsPage.State>
{
    static readonly string[] States = ["Received", "Repairing", "Resubmitted", "AwaitingPerson", "Completed", "Discarded"];

    public override string Slug => "workflow";

    public override string Title => "Workflow";

    public override bool InUse(IServiceProvider services) => services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(IWorkflowMessageStore));

    protected override async Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var store = services.GetRequiredService<IWorkflowMessageStore>();
        var counts = await store.CountByStateAsync(cancellationToken).ConfigureAwait(false);
        var oldest = await store.ListAsync(new WorkflowMessageQuery
        {
            Filter = new WorkflowMessageFilter { State = "AwaitingPerson" },
            Sort = WorkflowMessageSort.ReceivedAt,
            Descending = false,
            PageSize = 1
        }, cancellationToken).ConfigureAwait(false);
        var ordered = States.Concat(counts.Keys.Except(States)).ToDictionary(s => s, s => counts.TryGetValue(s, out var n) ? n : 0);
        return new State(ordered, oldest.Items.FirstOrDefault()?.ReceivedAt);
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        html.Raw("<section class=\"counts\" data-test=\"workflow-counts\">");
        foreach (var (name, count) in state.Counts)
        {
            html.Raw("<a class=\"count\"").Attr("data-test", "workflow-count-" + name).Attr("data-value", count.ToString(CultureInfo.InvariantCulture));
            if (html.Sections.Workflow)
                html.Attr("href", html.BasePath + "/messages?state=" + Uri.EscapeDataString(name));
            html.Raw(">");
            html.Element("span", name, ("class", "label"));
            html.Element("span", count.ToString(CultureInfo.InvariantCulture), ("class", "value"));
            html.Raw("</a>");
        }
        html.Raw("</section>");
        html.Raw("<dl class=\"facts\">");
        html.Element("dt", "Oldest waiting for a person");
        html.Element("dd", state.OldestAwaitingPerson is { } at ? $"{DashboardHtml.Time(at)} ({DashboardHtml.Age(context.Now - at)} ago)" : "none",
            ("data-test", "workflow-oldest-awaiting"));
        html.Raw("</dl>");
    }

    /// <summary>The workflow's state: messages per state, and when the oldest one waiting for a person was received.</summary>
    public sealed record State(IReadOnlyDictionary<string, long> Counts, DateTimeOffset? OldestAwaitingPerson);
}
