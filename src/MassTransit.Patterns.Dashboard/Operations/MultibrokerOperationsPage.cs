using System.Globalization;
using System.Text.Json;
using MassTransit.Patterns.Multibroker;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Multibroker: each broker's health state with its last reason, ejections and rejoins, the ejection time left, the spread of
/// the confirmed sends, and the duplicates suppressed; actions to hold a broker out of rotation ("eject") and to release it
/// ("readmit"), through <see cref="IMultibroker.Hold"/> and <see cref="IMultibroker.Release"/>.
/// </summary>
sealed class MultibrokerOperationsPage : OperationsPage<MultibrokerOperationsPage.State>
{
    public const string Eject = "eject";
    public const string Readmit = "readmit";

    public override string Slug => "multibroker";

    public override string Title => "Multibroker";

    public override IReadOnlyCollection<string> Actions => [Eject, Readmit];

    public override bool InUse(IServiceProvider services) => services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(IMultibroker));

    protected override Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var multibroker = services.GetRequiredService<IMultibroker>();
        var brokers = multibroker.Brokers.Select(b => (Broker: b, Sent: b.Sent)).ToArray();
        var total = brokers.Sum(b => b.Sent);
        var rows = brokers.Select(b => new BrokerRow(b.Broker.Name, b.Broker.State, b.Broker.State == BrokerState.Healthy, b.Broker.LastFailure,
                b.Broker.Ejections, b.Broker.Rejoins, b.Broker.EjectionTimeLeft.TotalSeconds, b.Sent,
                total == 0 ? 0 : Math.Round(100.0 * b.Sent / total, 1), b.Broker.SendFailures, b.Broker.Received, b.Broker.Weight))
            .ToArray();
        return Task.FromResult(new State(multibroker.Strategy, rows, total, multibroker.DuplicatesSuppressed));
    }

    public override Task<OperationsActionResult> ActAsync(string action, JsonElement body, IServiceProvider services, CancellationToken cancellationToken)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("broker", out var value) || value.ValueKind != JsonValueKind.String
            || string.IsNullOrWhiteSpace(value.GetString()))
            return Task.FromResult(OperationsActionResult.Invalid("The body needs the broker's name: {\"broker\": \"name\"}."));
        var name = value.GetString()!;
        var multibroker = services.GetRequiredService<IMultibroker>();
        var broker = multibroker.Brokers.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.Ordinal));
        if (broker is null)
            return Task.FromResult(OperationsActionResult.NotFound(
                $"No broker is named '{name}' (brokers: {string.Join(", ", multibroker.Brokers.Select(b => b.Name))}).", name));
        return Task.FromResult(action switch
        {
            Eject => multibroker.Hold(broker.Name, "ejected from the operations view")
                ? OperationsActionResult.Done($"{broker.Name} is out of rotation until it is readmitted (now {broker.State}).", broker.Name)
                : OperationsActionResult.Conflict($"{broker.Name} is already held out of rotation.", broker.Name),
            Readmit => multibroker.Release(broker.Name)
                ? OperationsActionResult.Done($"{broker.Name} is readmitted: now {broker.State}" +
                    (broker.State == BrokerState.Healthy ? ", in rotation." : ", back in rotation once it is healthy."), broker.Name)
                : OperationsActionResult.Conflict($"{broker.Name} is not held out of rotation (it is {broker.State}).", broker.Name),
            _ => OperationsActionResult.Invalid($"The page '{Slug}' has no action '{action}'.")
        });
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        var inRotation = state.Brokers.Count(b => b.InRotation);
        html.Raw("<section class=\"counts\">");
        html.Count("In rotation", inRotation, "multibroker-in-rotation", text: $"{inRotation} of {state.Brokers.Count}");
        html.Count("Sends confirmed", state.Sent, "multibroker-sent");
        html.Count("Duplicates suppressed", state.DuplicatesSuppressed, "multibroker-duplicates");
        html.Raw("</section>");
        html.Element("p", $"Strategy: {state.Strategy}", ("class", "hint"), ("data-test", "multibroker-strategy"));

        html.Raw("<table data-test=\"multibroker-brokers\"><thead><tr><th>Broker</th><th>State</th><th>Last reason</th><th>Ejections</th><th>Rejoins</th>")
            .Raw("<th>Ejection left</th><th>Sends confirmed</th><th>Share</th><th>Send failures</th><th>Received</th>");
        if (context.CanOperate)
            html.Raw("<th>Action</th>");
        html.Raw("</tr></thead><tbody>");
        foreach (var b in state.Brokers)
        {
            html.Raw("<tr data-test=\"multibroker-row\"").Attr("data-key", b.Name).Raw(">");
            html.Element("td", b.Name, ("data-test", "multibroker-name"));
            html.Element("td", b.State.ToString(), ("class", "state-" + b.State.ToString().ToLowerInvariant()), ("data-test", "multibroker-state"),
                ("data-value", b.State.ToString()));
            html.Element("td", b.LastReason ?? "", ("data-test", "multibroker-reason"));
            Cell(html, "multibroker-ejections", b.Ejections.ToString(CultureInfo.InvariantCulture), b.Ejections.ToString(CultureInfo.InvariantCulture));
            Cell(html, "multibroker-rejoins", b.Rejoins.ToString(CultureInfo.InvariantCulture), b.Rejoins.ToString(CultureInfo.InvariantCulture));
            Cell(html, "multibroker-ejection-left", b.EjectionSecondsLeft > 0 ? b.EjectionSecondsLeft.ToString("0.0", CultureInfo.InvariantCulture) + " s" : "",
                b.EjectionSecondsLeft.ToString("0.###", CultureInfo.InvariantCulture));
            Cell(html, "multibroker-sent", b.Sent.ToString(CultureInfo.InvariantCulture), b.Sent.ToString(CultureInfo.InvariantCulture));
            Cell(html, "multibroker-share", b.SharePercent.ToString("0.0", CultureInfo.InvariantCulture) + " %",
                b.SharePercent.ToString("0.0", CultureInfo.InvariantCulture));
            Cell(html, "multibroker-failures", b.SendFailures.ToString(CultureInfo.InvariantCulture), b.SendFailures.ToString(CultureInfo.InvariantCulture));
            Cell(html, "multibroker-received", b.Received.ToString(CultureInfo.InvariantCulture), b.Received.ToString(CultureInfo.InvariantCulture));
            if (context.CanOperate)
            {
                var held = b.State == BrokerState.Held;
                html.Raw("<td><button type=\"button\"")
                    .Attr("data-ops-action", context.ActionUrl(held ? Readmit : Eject))
                    .Attr("data-ops-body", JsonSerializer.Serialize(new { broker = b.Name }))
                    .Attr("data-test", held ? "multibroker-readmit" : "multibroker-eject")
                    .Raw(">").Text(held ? "Readmit" : "Eject").Raw("</button></td>");
            }
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
    }

    static void Cell(DashboardHtml html, string test, string text, string value) => html.Element("td", text, ("data-test", test), ("data-value", value));

    /// <summary>The multibroker's state: its strategy, each broker, the sends confirmed in all and the duplicates suppressed.</summary>
    public sealed record State(MultibrokerStrategy Strategy, IReadOnlyList<BrokerRow> Brokers, long Sent, long DuplicatesSuppressed);

    /// <summary>One broker: its health state, why it was last out, ejections and rejoins, the ejection time left, and its share of the sends.</summary>
    public sealed record BrokerRow(string Name, BrokerState State, bool InRotation, string? LastReason, long Ejections, long Rejoins,
        double EjectionSecondsLeft, long Sent, double SharePercent, long SendFailures, long Received, int Weight);
}
