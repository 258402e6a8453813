using System.Globalization;
using MassTransit.Patterns.Ambulance;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Ambulance lane: per queue with a lane, the lane's depth (urgent messages waiting for a slot or in flight), the urgent
/// wait p50/p99 over the last minutes, the mode and the slot budget (shared, in use per lane, borrowed), read from the
/// <see cref="AmbulanceLaneRegistry"/> that <c>UseAmbulanceLane</c> fills.
/// </summary>
sealed class AmbulanceOperationsPage : OperationsPage<AmbulanceOperationsPage.State>
{
    public override string Slug => "ambulance";

    public override string Title => "Ambulance lane";

    public override bool InUse(IServiceProvider services) =>
        services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(AmbulanceLaneRegistry));

    protected override Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken) =>
        Task.FromResult(new State(services.GetRequiredService<AmbulanceLaneRegistry>().Snapshot()));

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        if (state.Lanes.Count == 0)
        {
            html.Element("p", "No ambulance lane has been configured yet.", ("class", "hint"), ("data-test", "ambulance-none"));
            return;
        }
        html.Raw("<table data-test=\"ambulance-lanes\"><thead><tr><th>Queue</th><th>Lane</th><th>Mode</th><th>Lane depth</th><th>Urgent wait p50</th>"
            + "<th>Urgent wait p99</th><th>Slot budget</th><th>Urgent in use</th><th>Normal in use</th><th>Borrowed</th><th>Normal waiting</th></tr></thead><tbody>");
        foreach (var lane in state.Lanes)
        {
            html.Raw("<tr data-test=\"ambulance-row\"").Attr("data-queue", lane.Queue).Attr("data-lane", lane.Lane).Raw(">");
            html.Element("td", lane.Queue);
            html.Element("td", lane.Lane);
            html.Element("td", lane.Mode == AmbulanceMode.Ambulance ? "ambulance" : "carpool", ("data-test", "ambulance-mode"), ("data-value", lane.Mode.ToString()),
                ("title", lane.Mode == AmbulanceMode.Ambulance ? "one budget: idle lane slots are lent to normal work" : "separate budgets: lane slots serve the lane only"));
            html.Element("td", $"{lane.LaneDepth} ({lane.UrgentWaiting} waiting, {lane.UrgentInUse} in flight)", ("data-test", "ambulance-depth"),
                ("data-value", lane.LaneDepth.ToString(CultureInfo.InvariantCulture)));
            Wait(html, "ambulance-p50", lane.UrgentWaitP50Ms);
            Wait(html, "ambulance-p99", lane.UrgentWaitP99Ms);
            html.Element("td", lane.Mode == AmbulanceMode.Ambulance
                    ? $"{lane.SlotBudget} shared ({lane.QueueSlots} queue + {lane.LaneSlots} lane), {lane.SlotsInUse} in use"
                    : $"{lane.QueueSlots} queue + {lane.LaneSlots} lane, separate",
                ("data-test", "ambulance-budget"), ("data-value", lane.SlotBudget.ToString(CultureInfo.InvariantCulture)),
                ("data-queue-slots", lane.QueueSlots.ToString(CultureInfo.InvariantCulture)), ("data-lane-slots", lane.LaneSlots.ToString(CultureInfo.InvariantCulture)));
            Count(html, "ambulance-urgent-in-use", lane.UrgentInUse);
            Count(html, "ambulance-normal-in-use", lane.NormalInUse);
            Count(html, "ambulance-borrowed", lane.Borrowed);
            Count(html, "ambulance-normal-waiting", lane.NormalWaiting);
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
        var window = state.Lanes[0].Window;
        html.Element("p", $"Urgent wait: from sending an urgent message until it got a slot, over the last {window.TotalMinutes:0.#} min "
            + $"(at most the latest {AmbulanceLaneRegistry.UrgentWaitsKept} per lane; samples per lane: {string.Join(", ", state.Lanes.Select(l => l.UrgentWaitSamples))}). "
            + "Lane depth: urgent messages this process holds from the lane. Ambulance mode: one budget, idle lane slots lent to normal work (borrowed); "
            + "carpool: lane slots serve the lane only.", ("class", "hint"), ("data-test", "ambulance-note"));
    }

    static void Wait(DashboardHtml html, string test, double? ms) =>
        html.Element("td", ms is { } v ? $"{v:0.#} ms" : "no urgent message yet", ("data-test", test),
            ("data-value", ms?.ToString("R", CultureInfo.InvariantCulture) ?? ""));

    static void Count(DashboardHtml html, string test, int value) =>
        html.Element("td", value.ToString(CultureInfo.InvariantCulture), ("data-test", test), ("data-value", value.ToString(CultureInfo.InvariantCulture)));

    /// <summary>The lanes of this process.</summary>
    public sealed record State(IReadOnlyList<AmbulanceLaneSnapshot> Lanes);
}
