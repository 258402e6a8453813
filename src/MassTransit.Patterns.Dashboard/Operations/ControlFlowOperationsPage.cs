using System.Globalization;
using MassTransit.Patterns.ControlFlow;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Producer control flow: per watched queue, the state (normal / slow / stopped) with its watermarks and depth as the
/// <see cref="FlowMonitor"/> holds them, the statement this process's producers obey and its lease
/// (<see cref="FlowControlStateStore"/>), and how many sends and publishes were throttled, refused or are held now.
/// </summary>
sealed class ControlFlowOperationsPage : OperationsPage<ControlFlowOperationsPage.State>
{
    public override string Slug => "control-flow";

    public override string Title => "Producer control flow";

    public override bool InUse(IServiceProvider services) =>
        services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(FlowControlStateStore));

    protected override Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var store = services.GetRequiredService<FlowControlStateStore>();
        var monitored = services.GetService<FlowMonitor>()?.Snapshot().ToDictionary(f => f.Queue, StringComparer.OrdinalIgnoreCase)
            ?? new Dictionary<string, FlowQueueSnapshot>(StringComparer.OrdinalIgnoreCase);
        var names = monitored.Keys.Concat(store.Queues).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal);
        var queues = new List<QueueState>();
        foreach (var name in names)
        {
            var status = store.Get(name);
            var statement = status.Statement;
            var throttling = store.Throttling(name);
            var watched = monitored.TryGetValue(name, out var w) ? w : (FlowQueueSnapshot?)null;
            queues.Add(new QueueState(name, watched?.State, status.State, watched?.Depth ?? statement?.Depth,
                watched?.HighWatermark ?? statement?.HighWatermark, watched?.LowWatermark ?? statement?.LowWatermark,
                watched is { } m ? m.StopMark : statement?.StopMark, statement?.LeaseExpiresAt, watched?.LastReadingAt, watched?.ReadingFailed ?? false,
                throttling.Throttled, throttling.Rejected, throttling.UrgentBypassed, throttling.HeldNow));
        }
        return Task.FromResult(new State(queues));
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        if (state.Queues.Count == 0)
        {
            html.Element("p", "No queue is watched and no statement has been heard yet.", ("class", "hint"), ("data-test", "control-flow-none"));
            return;
        }
        html.Raw("<table data-test=\"control-flow-queues\"><thead><tr><th>Queue</th><th>State</th><th>Depth</th><th>High / low / stop</th>"
            + "<th>Lease expires</th><th>Throttled</th><th>Refused</th><th>Held now</th><th>Urgent let through</th></tr></thead><tbody>");
        foreach (var q in state.Queues)
        {
            html.Raw("<tr data-test=\"control-flow-row\"").Attr("data-queue", q.Queue).Raw(">");
            html.Element("td", q.Queue);
            var shown = q.ProducerState;
            html.Raw("<td").Attr("class", "state-" + shown.ToString().ToLowerInvariant()).Attr("data-test", "control-flow-state").Attr("data-value", shown.ToString())
                .Attr("data-monitor", q.MonitorState?.ToString() ?? "").Raw(">");
            html.Text(StateText(shown));
            if (q.MonitorState is { } monitor && monitor != shown)
                html.Text($" (monitor: {StateText(monitor)})");
            if (q.ReadingFailed)
                html.Text(" (last depth reading failed: state held)");
            html.Raw("</td>");
            html.Element("td", q.Depth?.ToString(CultureInfo.InvariantCulture) ?? "not read", ("data-test", "control-flow-depth"),
                ("data-value", q.Depth?.ToString(CultureInfo.InvariantCulture) ?? ""));
            html.Element("td", q.HighWatermark is null ? "unknown" : $"{q.HighWatermark} / {q.LowWatermark} / {q.StopMark?.ToString(CultureInfo.InvariantCulture) ?? "none"}",
                ("data-test", "control-flow-marks"), ("data-high", q.HighWatermark?.ToString(CultureInfo.InvariantCulture) ?? ""),
                ("data-low", q.LowWatermark?.ToString(CultureInfo.InvariantCulture) ?? ""), ("data-stop", q.StopMark?.ToString(CultureInfo.InvariantCulture) ?? ""));
            html.Element("td", q.LeaseExpiresAt is { } lease
                    ? lease > context.Now ? $"{DashboardHtml.Time(lease)} (in {DashboardHtml.Age(lease - context.Now)})" : $"{DashboardHtml.Time(lease)} (expired)"
                    : "no statement",
                ("data-test", "control-flow-lease"), ("data-value", q.LeaseExpiresAt?.ToString("O", CultureInfo.InvariantCulture) ?? ""));
            Count(html, "control-flow-throttled", q.Throttled);
            Count(html, "control-flow-rejected", q.Rejected);
            Count(html, "control-flow-held", q.HeldNow);
            Count(html, "control-flow-bypassed", q.UrgentBypassed);
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
        html.Element("p", "State: what this process's producers obey (the monitor's last statement while its lease holds, else normal). "
            + "Throttled: sends and publishes delayed, rate-limited or held, then let through; refused: BackPressureException.", ("class", "hint"));
    }

    static void Count(DashboardHtml html, string test, long value) =>
        html.Element("td", value.ToString("N0", CultureInfo.InvariantCulture), ("data-test", test), ("data-value", value.ToString(CultureInfo.InvariantCulture)));

    static string StateText(FlowState state) => state switch
    {
        FlowState.Slow => "slow",
        FlowState.Stop => "stopped",
        _ => "normal"
    };

    /// <summary>The watched queues and those the producers heard of.</summary>
    public sealed record State(IReadOnlyList<QueueState> Queues);

    /// <summary>One queue: the monitor's view (null when no monitor runs here), what the producers obey, and what they met.</summary>
    public sealed record QueueState(string Queue, FlowState? MonitorState, FlowState ProducerState, long? Depth, long? HighWatermark, long? LowWatermark, long? StopMark,
        DateTimeOffset? LeaseExpiresAt, DateTimeOffset? LastReadingAt, bool ReadingFailed, long Throttled, long Rejected, long UrgentBypassed, int HeldNow);
}
