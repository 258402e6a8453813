using System.Globalization;
using System.Text.Json;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Thread delegate: per endpoint, lanes busy, buffered and parked messages, keys in flight and the wait on each lane; the
/// keys held after a failure (<see cref="FailedKeyBehavior.Hold"/>) with the message that failed and since when, each with a
/// release action. Read from every <see cref="ThreadDelegateControl"/> registered in the container (the user registers the
/// control they set as <see cref="ThreadDelegateOptions.Control"/>).
/// </summary>
sealed class ThreadDelegateOperationsPage : OperationsPage<ThreadDelegateOperationsPage.State>
{
    public const string Release = "release";

    public override string Slug => "thread-delegate";

    public override string Title => "Thread delegate";

    public override IReadOnlyCollection<string> Actions => [Release];

    public override bool InUse(IServiceProvider services) =>
        services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(ThreadDelegateControl));

    protected override Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var endpoints = new SortedDictionary<string, Endpoint>(StringComparer.Ordinal);
        var held = new List<HeldKey>();
        foreach (var control in services.GetServices<ThreadDelegateControl>().Distinct())
        {
            foreach (var (name, s) in control.Snapshot())
                endpoints.TryAdd(name, new Endpoint(name, s.WaitingPerLane.Count, s.LanesBusy, s.Buffered, s.Parked, s.KeysInFlight, s.KeysHeld, s.WaitingPerLane));
            held.AddRange(control.HeldKeys);
        }
        var keys = held.DistinctBy(h => (h.Endpoint, h.Key)).OrderBy(h => h.Since).ThenBy(h => h.Key, StringComparer.Ordinal).ToArray();
        return Task.FromResult(new State([.. endpoints.Values], keys));
    }

    public override Task<OperationsActionResult> ActAsync(string action, JsonElement body, IServiceProvider services, CancellationToken cancellationToken)
    {
        if (action != Release)
            return base.ActAsync(action, body, services, cancellationToken);
        var endpoint = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("endpoint", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        var key = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
        if (string.IsNullOrEmpty(endpoint) || key is null)
            return Task.FromResult(OperationsActionResult.Invalid("The body must name the endpoint and the key: {\"endpoint\": \"...\", \"key\": \"...\"}."));
        var target = endpoint + "/" + key;
        var released = services.GetServices<ThreadDelegateControl>().Distinct().Aggregate(false, (any, control) => control.Release(endpoint, key) | any);
        return Task.FromResult(released
            ? OperationsActionResult.Done($"Released key '{key}' on {endpoint}: its next messages are consumed again.", target)
            : OperationsActionResult.NotFound($"Key '{key}' is not held on {endpoint}.", target));
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        html.Element("h2", "Endpoints");
        if (state.Endpoints.Count == 0)
            html.Element("p", "No endpoint has started its thread delegate yet.", ("class", "hint"), ("data-test", "thread-delegate-none"));
        else
        {
            html.Raw("<table data-test=\"thread-delegate-endpoints\"><thead><tr><th>Endpoint</th><th>Lanes busy</th><th>Buffered</th><th>Parked</th>"
                + "<th>Keys in flight</th><th>Keys held</th><th>Waiting per lane</th></tr></thead><tbody>");
            foreach (var e in state.Endpoints)
            {
                html.Raw("<tr data-test=\"thread-delegate-row\"").Attr("data-queue", e.Name).Raw(">");
                html.Element("td", e.Name, ("data-test", "thread-delegate-endpoint"));
                Cell(html, $"{e.LanesBusy} / {e.Lanes}", e.LanesBusy, "thread-delegate-lanes-busy", ("data-lanes", Number(e.Lanes)));
                Cell(html, Number(e.Buffered), e.Buffered, "thread-delegate-buffered");
                Cell(html, Number(e.Parked), e.Parked, "thread-delegate-parked");
                Cell(html, Number(e.KeysInFlight), e.KeysInFlight, "thread-delegate-keys-in-flight");
                Cell(html, Number(e.KeysHeld), e.KeysHeld, "thread-delegate-keys-held");
                html.Element("td", string.Join(" ", e.WaitingPerLane.Select(Number)), ("data-test", "thread-delegate-waiting-per-lane"),
                    ("data-value", string.Join(",", e.WaitingPerLane.Select(Number))));
                html.Raw("</tr>");
            }
            html.Raw("</tbody></table>");
        }

        html.Element("h2", "Held keys");
        if (state.HeldKeys.Count == 0)
        {
            html.Element("p", "No key is held.", ("class", "hint"), ("data-test", "thread-delegate-held-none"));
            return;
        }
        html.Raw("<table data-test=\"thread-delegate-held\"><thead><tr><th>Endpoint</th><th>Key</th><th>Failed message</th><th>Held since</th>");
        if (context.CanOperate)
            html.Raw("<th></th>");
        html.Raw("</tr></thead><tbody>");
        foreach (var h in state.HeldKeys)
        {
            var failed = h.FailedMessageId?.ToString() ?? "";
            html.Raw("<tr data-test=\"thread-delegate-held-row\"").Attr("data-queue", h.Endpoint).Attr("data-key", h.Key)
                .Attr("data-failed-message-id", failed).Raw(">");
            html.Element("td", h.Endpoint);
            html.Element("td", h.Key, ("data-test", "thread-delegate-held-key"));
            html.Element("td", h.FailedMessageId is null ? "unknown" : failed, ("data-test", "thread-delegate-held-failed"), ("data-value", failed));
            html.Element("td", $"{DashboardHtml.Time(h.Since)} ({DashboardHtml.Age(context.Now - h.Since)} ago)", ("data-test", "thread-delegate-held-since"),
                ("data-value", h.Since.ToString("O", CultureInfo.InvariantCulture)));
            if (context.CanOperate)
            {
                html.Raw("<td><button type=\"button\"").Attr("data-ops-action", context.ActionUrl(Release))
                    .Attr("data-ops-body", JsonSerializer.Serialize(new { endpoint = h.Endpoint, key = h.Key }))
                    .Attr("data-test", "thread-delegate-release").Attr("data-key", h.Key).Raw(">Release</button></td>");
            }
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
    }

    static void Cell(DashboardHtml html, string text, int value, string test, params (string Name, string? Value)[] more) =>
        html.Element("td", text, [("data-test", test), ("data-value", Number(value)), .. more]);

    static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The thread delegates' state: each endpoint, and the keys held.</summary>
    public sealed record State(IReadOnlyList<Endpoint> Endpoints, IReadOnlyList<HeldKey> HeldKeys);

    /// <summary>One endpoint's thread delegate now.</summary>
    public sealed record Endpoint(string Name, int Lanes, int LanesBusy, int Buffered, int Parked, int KeysInFlight, int KeysHeld, IReadOnlyList<int> WaitingPerLane);
}
