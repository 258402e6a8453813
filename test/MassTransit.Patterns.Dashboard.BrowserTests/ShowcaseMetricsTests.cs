extern alias showcase;

using System.Globalization;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using showcase::MassTransit.Patterns.Showcase.Dashboard;
using showcase::MassTransit.Patterns.Showcase.Dashboard.Workloads;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// The showcase wires the <c>MassTransit.Patterns</c> meter and MassTransit's own into OpenTelemetry and serves them for
/// Prometheus at <see cref="DashboardShowcase.MetricsPath"/> on its loopback Kestrel: scraped with a plain HttpClient (no
/// browser), the workflow's counters agree with the workflow store read in the test, and only grow.
/// </summary>
public sealed class ShowcaseMetricsTests
{
    const string Workflow = "masstransit_patterns_workflow_";

    [Fact]
    public async Task The_metrics_endpoint_serves_the_patterns_counters_consistent_with_the_workflow_store_and_MassTransits_own()
    {
        await using var host = await ShowcaseHost.StartAsync([new WorkflowWorkload()]);
        using var http = new HttpClient { BaseAddress = host.BaseAddress };
        var store = host.Services.GetRequiredService<IWorkflowMessageStore>();
        await Eventually.True(async () => (await store.CountByStateAsync()) is var c && c.GetValueOrDefault("AwaitingPerson") > 0 && c.GetValueOrDefault("Completed") > 0,
            TimeSpan.FromSeconds(60), "invoices fail into the store: some repaired, some waiting for a person");

        // The store first, then the scrape: every row the store holds was counted before it was stored (a row starts with a
        // delegated failure; Completed and AwaitingPerson are counted in the consume that stores them), so the counters read
        // later are at least the store's counts.
        var counts = await store.CountByStateAsync();
        var first = await ScrapeAsync(http);
        Assert.True(Sum(first, Workflow + "delegated_total") >= counts.Values.Sum(),
            $"delegated {Sum(first, Workflow + "delegated_total")} >= rows {counts.Values.Sum()}\n{first.Text}");
        Assert.True(Sum(first, Workflow + "waiting_for_person_total") >= counts["AwaitingPerson"],
            $"waiting {Sum(first, Workflow + "waiting_for_person_total")} >= AwaitingPerson {counts["AwaitingPerson"]}");
        Assert.True(Sum(first, Workflow + "repaired_total") + Sum(first, Workflow + "resolved_by_person_total") >= counts["Completed"],
            $"repaired + resolved by a person >= Completed {counts["Completed"]}");
        Assert.True(Sum(first, Workflow + "resubmitted_total") >= Sum(first, Workflow + "repaired_total"),
            "a message repaired was resubmitted first");
        Assert.Contains(first.Series, s => s.Key.Contains("messaging_destination_name=\"" + DashboardShowcase.Queue + "\"", StringComparison.Ordinal)
                                           && s.Key.StartsWith(Workflow + "delegated_total", StringComparison.Ordinal));
        // MassTransit's own meter is wired too. MassTransit 8.5 creates its instruments once per process, on the first
        // container's meter factory: once that host is disposed (an earlier test's), a later host's scrape has no MassTransit
        // series whatever it wires. So the wiring is shown with a counter on a meter of that name made here, and the
        // MassTransit series, when present, must be the invoices queue's.
        using (var massTransitMeter = new System.Diagnostics.Metrics.Meter("MassTransit"))
        {
            massTransitMeter.CreateCounter<long>("showcase.test.probe").Add(3);
            var probed = await ScrapeAsync(http);
            Assert.True(Sum(probed, "showcase_test_probe_total") == 3, $"a counter on the MassTransit meter is scraped\n{probed.Text}");
        }
        Assert.All(first.Series.Where(s => s.Key.StartsWith("messaging_masstransit_receive_ea_total{", StringComparison.Ordinal)),
            s => Assert.Contains("messaging_masstransit_destination=\"" + DashboardShowcase.Queue, s.Key, StringComparison.Ordinal));

        // The workload keeps failing invoices: the counter grows, and no counter series goes back.
        var delegated = Sum(first, Workflow + "delegated_total");
        Scrape later = first;
        await Eventually.True(async () => Sum(later = await ScrapeAsync(http), Workflow + "delegated_total") > delegated, TimeSpan.FromSeconds(30),
            "more invoices are delegated", TimeSpan.FromMilliseconds(250));
        // The patterns' counters, and MassTransit's receive and consume counts (its *_active_* series are up-down counters).
        Assert.Contains(Workflow + "delegated_total", first.Counters);
        string[] monotonic = ["masstransit_patterns_", "messaging_masstransit_receive_ea_total", "messaging_masstransit_consume_ea_total"];
        foreach (var (series, value) in first.Series.Where(s => first.Counters.Contains(s.Key.Split('{')[0])
                                                               && monotonic.Any(m => s.Key.StartsWith(m, StringComparison.Ordinal))))
        {
            Assert.True(later.Series.TryGetValue(series, out var again), $"{series} is still served");
            Assert.True(again >= value, $"{series}: {value} then {again}");
        }
    }

    /// <summary>A scrape: its text, the value of each series (name and labels), and the names of the counters (# TYPE NAME counter).</summary>
    sealed record Scrape(string Text, IReadOnlyDictionary<string, double> Series, IReadOnlySet<string> Counters);

    static async Task<Scrape> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync(DashboardShowcase.MetricsPath);
        response.EnsureSuccessStatusCode();
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var text = await response.Content.ReadAsStringAsync();
        var series = new Dictionary<string, double>(StringComparer.Ordinal);
        var counters = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal) && line.Split(' ') is [_, _, var name, "counter"])
                counters.Add(name);
            if (line.Length == 0 || line[0] == '#')
                continue;
            // name{label="value",...} VALUE [TIMESTAMP]; label values may hold spaces, never an unescaped closing brace.
            var close = line.LastIndexOf('}');
            var split = close >= 0 ? close + 1 : line.IndexOf(' ', StringComparison.Ordinal);
            var value = line[split..].Trim().Split(' ')[0];
            series[line[..split]] = double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        return new Scrape(text, series, counters);
    }

    static double Sum(Scrape scrape, string name) =>
        scrape.Series.Where(s => s.Key == name || s.Key.StartsWith(name + "{", StringComparison.Ordinal)).Sum(s => s.Value);
}
