using System.Globalization;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Supervisor.Fleet;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Supervisor: per supervised queue, the limit, active consumers and depth over the last minutes (a chart of the
/// supervisor's own <see cref="IConsumerSupervisor.RecentTicks"/>), the last decisions with their reason, probe
/// failures, and the fleet's shares when the fleet saga runs (read from the saga's repository).
/// </summary>
sealed class SupervisorOperationsPage : OperationsPage<SupervisorOperationsPage.State>
{
    const int Decisions = 10;
    const int ChartWidth = 600;
    const int ChartHeight = 120;

    public override string Slug => "supervisor";

    public override string Title => "Supervisor";

    public override bool InUse(IServiceProvider services) =>
        services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(ConsumerSupervisorRegistry));

    protected override async Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var registry = services.GetRequiredService<ConsumerSupervisorRegistry>();
        var queues = new List<QueueState>();
        foreach (var supervisor in registry.All.OrderBy(s => s.Queue, StringComparer.Ordinal))
        {
            // Read the history first and the live values last: the limit shown is the supervisor's limit at the read.
            var ticks = supervisor.RecentTicks;
            var history = ticks.Select(t => new Point(t.At, t.Limit, t.Active, t.Depth)).ToArray();
            var decisions = ticks.Where(t => t.Direction != ScalingDirection.Hold || t.Failure is not null).Reverse().Take(Decisions)
                .Select(t => new Decision(t.At, t.Direction, t.Wanted, t.PreviousLimit, t.Limit, t.Depth, t.Failure, Reason(t))).ToArray();
            var fleet = supervisor.Options.Fleet is null ? null : await ReadFleetAsync(services, supervisor, cancellationToken).ConfigureAwait(false);
            var options = supervisor.Options;
            queues.Add(new QueueState(supervisor.Queue, supervisor.Limit, supervisor.Active, supervisor.Waiting, supervisor.LastTick?.Depth,
                options.MinConsumers, options.MaxConsumers, options.MessagesPerConsumer, options.PollInterval, supervisor.Ticks, supervisor.ProbeFailures,
                supervisor.FleetFailures, supervisor.LastTick?.At, history, decisions, fleet));
        }
        return new State(queues);
    }

    static async Task<FleetState> ReadFleetAsync(IServiceProvider services, IConsumerSupervisor supervisor, CancellationToken cancellationToken)
    {
        var last = supervisor.LastTick;
        await using var scope = services.CreateAsyncScope();
        var repository = scope.ServiceProvider.GetService<ILoadSagaRepository<ConsumerSupervisorState>>();
        var saga = repository is null ? null : await repository.Load(ConsumerSupervisorState.CorrelationIdOf(supervisor.Queue)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (saga is null)
            return new FleetState(last?.FleetTarget, last?.FleetInstances, null, null, []);
        return new FleetState(saga.Target, saga.InstanceCount, saga.Depth, saga.UpdatedAt, saga.ReadInstances());
    }

    static string Reason(SupervisorTick t)
    {
        if (t.Failure is not null)
            return t.Depth is null ? $"depth not read, limit held at {t.Limit}: {t.Failure}" : $"{t.Failure}; limit {t.PreviousLimit} -> {t.Limit}";
        var depth = t.Depth is { } d ? d.ToString(CultureInfo.InvariantCulture) : "unknown";
        var fleet = t.FleetTarget is { } target ? $", fleet target {target} over {t.FleetInstances} instance(s)" : "";
        return $"depth {depth} wanted {t.Wanted}{fleet}: limit {t.PreviousLimit} -> {t.Limit}";
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        if (state.Queues.Count == 0)
        {
            html.Element("p", "No supervised endpoint has been configured yet.", ("class", "hint"), ("data-test", "supervisor-none"));
            return;
        }
        foreach (var q in state.Queues)
        {
            html.Raw("<section data-test=\"supervisor-row\"").Attr("data-queue", q.Queue).Raw(">");
            html.Element("h2", q.Queue);
            html.Raw("<dl class=\"facts\">");
            Fact(html, "Limit", "supervisor-limit", q.Limit, $"{q.Limit} (between {q.MinConsumers} and {q.MaxConsumers})");
            Fact(html, "Active", "supervisor-active", q.Active, q.Active.ToString(CultureInfo.InvariantCulture));
            Fact(html, "Waiting for a consumer", "supervisor-waiting", q.Waiting, q.Waiting.ToString(CultureInfo.InvariantCulture));
            html.Element("dt", "Depth at the last look");
            html.Element("dd", q.Depth is { } d ? d.ToString(CultureInfo.InvariantCulture) : "not read", ("data-test", "supervisor-depth"),
                ("data-value", q.Depth?.ToString(CultureInfo.InvariantCulture) ?? ""));
            Fact(html, "Looks", "supervisor-ticks", q.Ticks, q.LastLookAt is { } at
                ? $"{q.Ticks} (every {q.PollInterval.TotalSeconds:0.###} s; last {DashboardHtml.Age(context.Now - at)} ago)"
                : q.Ticks.ToString(CultureInfo.InvariantCulture));
            Fact(html, "Probe failures", "supervisor-probe-failures", q.ProbeFailures, q.ProbeFailures.ToString(CultureInfo.InvariantCulture));
            if (q.Fleet is not null)
                Fact(html, "Fleet heartbeats unanswered", "supervisor-fleet-failures", q.FleetFailures, q.FleetFailures.ToString(CultureInfo.InvariantCulture));
            html.Raw("</dl>");
            Chart(html, q);
            DecisionTable(html, q);
            if (q.Fleet is { } fleet)
                FleetTable(html, fleet);
            html.Raw("</section>");
        }
    }

    static void Fact(DashboardHtml html, string label, string test, long value, string text)
    {
        html.Element("dt", label);
        html.Element("dd", text, ("data-test", test), ("data-value", value.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>Limit and active on the consumers' scale (0 to the maximum), depth on its own scale (0 to the highest depth shown).</summary>
    static void Chart(DashboardHtml html, QueueState q)
    {
        var points = q.History;
        html.Element("h3", "The last minutes");
        if (points.Count < 2)
        {
            html.Element("p", "Not enough looks yet.", ("class", "hint"), ("data-test", "supervisor-chart-empty"));
            return;
        }
        var start = points[0].At;
        var span = Math.Max(1, (points[^1].At - start).TotalSeconds);
        var top = Math.Max(1, Math.Max(q.MaxConsumers, points.Max(p => Math.Max(p.Limit, p.Active))));
        var depthTop = Math.Max(1, points.Max(p => p.Depth ?? 0));
        string X(DateTimeOffset at) => ((at - start).TotalSeconds / span * ChartWidth).ToString("0.#", CultureInfo.InvariantCulture);
        string Y(double value, double max) => (ChartHeight - value / max * (ChartHeight - 4) - 2).ToString("0.#", CultureInfo.InvariantCulture);
        string Line(Func<Point, double?> value, double max) =>
            string.Join(' ', points.Where(p => value(p) is not null).Select(p => X(p.At) + "," + Y(value(p)!.Value, max)));

        html.Raw("<svg class=\"chart\" role=\"img\"").Attr("viewBox", $"0 0 {ChartWidth} {ChartHeight}").Attr("width", ChartWidth.ToString(CultureInfo.InvariantCulture))
            .Attr("height", ChartHeight.ToString(CultureInfo.InvariantCulture)).Attr("data-test", "supervisor-chart")
            .Attr("data-points", points.Count.ToString(CultureInfo.InvariantCulture))
            .Attr("aria-label", $"limit, active and depth of {q.Queue} over {span:0} s").Raw(">");
        html.Raw("<polyline class=\"depth\"").Attr("points", Line(p => p.Depth, depthTop)).Raw("/>");
        html.Raw("<polyline class=\"active\"").Attr("points", Line(p => p.Active, top)).Raw("/>");
        html.Raw("<polyline class=\"limit\"").Attr("points", Line(p => p.Limit, top)).Raw("/>");
        html.Raw("</svg>");
        html.Raw("<p class=\"legend\" data-test=\"supervisor-legend\">").Text($"Over the last {span:0} s ({points.Count} looks): ")
            .Raw("<span class=\"key limit\"></span>").Text(" limit and ").Raw("<span class=\"key active\"></span>").Text($" active from 0 to {top} consumers; ")
            .Raw("<span class=\"key depth\"></span>").Text($" depth from 0 to {depthTop} messages.").Raw("</p>");
    }

    static void DecisionTable(DashboardHtml html, QueueState q)
    {
        html.Element("h3", "Last decisions");
        if (q.Decisions.Count == 0)
        {
            html.Element("p", "No change and no failure in the looks kept.", ("class", "hint"), ("data-test", "supervisor-decisions-empty"));
            return;
        }
        html.Raw("<table data-test=\"supervisor-decisions\"><thead><tr><th>When</th><th>Decision</th><th>Limit</th><th>Reason</th></tr></thead><tbody>");
        foreach (var d in q.Decisions)
        {
            html.Raw("<tr data-test=\"supervisor-decision\"").Attr("data-direction", d.Direction.ToString())
                .Attr("data-limit", d.Limit.ToString(CultureInfo.InvariantCulture)).Raw(">");
            html.Element("td", DashboardHtml.Time(d.At));
            html.Element("td", d.Failure is not null && d.Direction == ScalingDirection.Hold ? "held (failure)" : d.Direction.ToString().ToLowerInvariant());
            html.Element("td", $"{d.PreviousLimit} -> {d.Limit}");
            html.Element("td", d.Reason, ("data-test", "supervisor-decision-reason"));
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
    }

    static void FleetTable(DashboardHtml html, FleetState fleet)
    {
        html.Element("h3", "Fleet");
        html.Raw("<dl class=\"facts\">");
        html.Element("dt", "Target");
        html.Element("dd", fleet.Target?.ToString(CultureInfo.InvariantCulture) ?? "not yet", ("data-test", "supervisor-fleet-target"),
            ("data-value", fleet.Target?.ToString(CultureInfo.InvariantCulture) ?? ""));
        html.Element("dt", "Live instances");
        html.Element("dd", fleet.InstanceCount?.ToString(CultureInfo.InvariantCulture) ?? "not yet", ("data-test", "supervisor-fleet-instances"),
            ("data-value", fleet.InstanceCount?.ToString(CultureInfo.InvariantCulture) ?? ""));
        html.Raw("</dl>");
        if (fleet.Instances.Count == 0)
            return;
        html.Raw("<table data-test=\"supervisor-fleet\"><thead><tr><th>Instance</th><th>Share</th><th>Active</th><th>Waiting</th><th>Last heartbeat</th></tr></thead><tbody>");
        foreach (var i in fleet.Instances)
        {
            html.Raw("<tr data-test=\"supervisor-fleet-instance\"").Attr("data-instance", i.Id).Attr("data-share", i.Share.ToString(CultureInfo.InvariantCulture)).Raw(">");
            html.Element("td", i.Id);
            html.Element("td", i.Share.ToString(CultureInfo.InvariantCulture), ("data-test", "supervisor-fleet-share"));
            html.Element("td", i.Active.ToString(CultureInfo.InvariantCulture));
            html.Element("td", i.Waiting.ToString(CultureInfo.InvariantCulture));
            html.Element("td", DashboardHtml.Time(i.LastSeen));
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
    }

    /// <summary>The supervised queues.</summary>
    public sealed record State(IReadOnlyList<QueueState> Queues);

    /// <summary>One supervised queue: the supervisor's values at the read, its recent looks and decisions, and the fleet.</summary>
    public sealed record QueueState(string Queue, int Limit, int Active, int Waiting, long? Depth, int MinConsumers, int MaxConsumers, int MessagesPerConsumer,
        TimeSpan PollInterval, long Ticks, long ProbeFailures, long FleetFailures, DateTimeOffset? LastLookAt, IReadOnlyList<Point> History,
        IReadOnlyList<Decision> Decisions, FleetState? Fleet);

    /// <summary>One look, for the chart.</summary>
    public sealed record Point(DateTimeOffset At, int Limit, int Active, long? Depth);

    /// <summary>A look that changed the limit or failed, with its reason.</summary>
    public sealed record Decision(DateTimeOffset At, ScalingDirection Direction, int Wanted, int PreviousLimit, int Limit, long? Depth, string? Failure, string Reason);

    /// <summary>The fleet as the saga holds it (or as the last heartbeat's answer told, without a readable repository).</summary>
    public sealed record FleetState(int? Target, int? InstanceCount, long? Depth, DateTimeOffset? UpdatedAt, IReadOnlyList<FleetInstance> Instances);
}
