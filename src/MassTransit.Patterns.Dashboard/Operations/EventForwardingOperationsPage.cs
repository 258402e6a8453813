using System.Globalization;
using MassTransit.Patterns.EventForwarding;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Event forwarding: per outbox, its backlog and the age of its oldest undelivered row (<see cref="IOutboxBacklog"/>, one
/// query each) and its delivery lag (<see cref="IOutboxDelivery"/>); the inbox duplicates suppressed and the sends
/// confirmed, resent and given up (<see cref="EventForwardingTotals"/>).
/// </summary>
sealed class EventForwardingOperationsPage : OperationsPage<EventForwardingOperationsPage.State>
{
    public override string Slug => "event-forwarding";

    public override string Title => "Event forwarding";

    public override bool InUse(IServiceProvider services) =>
        services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(EventForwardingTotals));

    protected override async Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var deliveries = services.GetServices<IOutboxDelivery>().ToDictionary(d => d.Name, d => d.Read(), StringComparer.Ordinal);
        var outboxes = new List<OutboxRow>();
        foreach (var backlog in services.GetServices<IOutboxBacklog>())
        {
            var reading = await backlog.ReadAsync(cancellationToken).ConfigureAwait(false);
            deliveries.TryGetValue(backlog.Name, out var delivery);
            outboxes.Add(new OutboxRow(backlog.Name, reading.Pending, reading.OldestCreatedAt, reading.OldestAge.TotalSeconds, reading.ReadAt,
                delivery?.Delivered, delivery?.DeliveryFailures, delivery?.HoldsLease, delivery?.LagSamples ?? 0,
                delivery?.LagP50?.TotalMilliseconds, delivery?.LagP99?.TotalMilliseconds));
        }
        var totals = services.GetRequiredService<EventForwardingTotals>();
        return new State(outboxes, totals.Confirmed, totals.Resends, totals.Unconfirmed, totals.InboxDuplicatesSuppressed);
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        html.Raw("<section class=\"counts\">");
        html.Count("Inbox duplicates suppressed", state.InboxDuplicatesSuppressed, "event-forwarding-duplicates");
        html.Count("Sends confirmed", state.Confirmed, "event-forwarding-confirmed");
        html.Count("Resends", state.Resends, "event-forwarding-resends");
        html.Count("Unconfirmed (given up)", state.Unconfirmed, "event-forwarding-unconfirmed");
        html.Raw("</section>");

        html.Element("h2", "Outboxes");
        if (state.Outboxes.Count == 0)
        {
            html.Element("p", "No outbox is registered (AddPatternsEntityFrameworkOutbox).", ("class", "hint"), ("data-test", "event-forwarding-no-outbox"));
            return;
        }
        html.Raw("<table data-test=\"event-forwarding-outboxes\"><thead><tr><th>Outbox</th><th>Backlog</th><th>Oldest age</th>")
            .Raw("<th>Delivered</th><th>Delivery failures</th><th>Delivery lag p50</th><th>Delivery lag p99</th><th>Lease</th></tr></thead><tbody>");
        foreach (var o in state.Outboxes)
        {
            html.Raw("<tr data-test=\"event-forwarding-row\"").Attr("data-key", o.Name).Raw(">");
            html.Element("td", o.Name, ("data-test", "event-forwarding-name"));
            Cell(html, "event-forwarding-backlog", o.Pending.ToString(CultureInfo.InvariantCulture), o.Pending.ToString(CultureInfo.InvariantCulture));
            Cell(html, "event-forwarding-oldest-age",
                o.OldestCreatedAt is { } at ? $"{DashboardHtml.Age(TimeSpan.FromSeconds(o.OldestAgeSeconds))} (since {DashboardHtml.Time(at)})" : "none waiting",
                o.OldestAgeSeconds.ToString("0.###", CultureInfo.InvariantCulture));
            Cell(html, "event-forwarding-delivered", o.Delivered?.ToString(CultureInfo.InvariantCulture) ?? "", o.Delivered?.ToString(CultureInfo.InvariantCulture) ?? "");
            Cell(html, "event-forwarding-failures", o.DeliveryFailures?.ToString(CultureInfo.InvariantCulture) ?? "",
                o.DeliveryFailures?.ToString(CultureInfo.InvariantCulture) ?? "");
            Lag(html, "event-forwarding-lag-p50", o.LagP50Milliseconds, o.LagSamples);
            Lag(html, "event-forwarding-lag-p99", o.LagP99Milliseconds, o.LagSamples);
            html.Element("td", o.HoldsLease switch { true => "held here", false => "another instance", null => "" }, ("data-test", "event-forwarding-lease"));
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
        html.Element("p", "Delivery lag: from the outbox row's creation to the broker's confirm, over this process's last deliveries (at most 1,024).",
            ("class", "hint"));
    }

    static void Cell(DashboardHtml html, string test, string text, string value) => html.Element("td", text, ("data-test", test), ("data-value", value));

    static void Lag(DashboardHtml html, string test, double? milliseconds, int samples) =>
        Cell(html, test, milliseconds is { } ms ? $"{Milliseconds(ms)} ({samples} deliveries)" : "no delivery yet",
            milliseconds?.ToString("0.###", CultureInfo.InvariantCulture) ?? "");

    static string Milliseconds(double ms) => ms < 10_000 ? ms.ToString("0", CultureInfo.InvariantCulture) + " ms" : (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s";

    /// <summary>Event forwarding's state: each outbox, and the process's totals.</summary>
    public sealed record State(IReadOnlyList<OutboxRow> Outboxes, long Confirmed, long Resends, long Unconfirmed, long InboxDuplicatesSuppressed);

    /// <summary>One outbox: its backlog and oldest row (read now), and its delivery service's figures in this process (null when none runs here).</summary>
    public sealed record OutboxRow(string Name, long Pending, DateTimeOffset? OldestCreatedAt, double OldestAgeSeconds, DateTimeOffset ReadAt,
        long? Delivered, long? DeliveryFailures, bool? HoldsLease, int LagSamples, double? LagP50Milliseconds, double? LagP99Milliseconds);
}
