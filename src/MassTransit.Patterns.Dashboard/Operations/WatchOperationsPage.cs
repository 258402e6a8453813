using System.Globalization;
using MassTransit.Patterns.Watch;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Watch: per watch source of this app, its keys with their version, when they changed and their live watchers, and the
/// watchers pruned (unreachable, lease ended). Read from every <see cref="IWatchSourceView"/> of the container
/// (<c>AddWatchSource&lt;TValue&gt;</c> registers each) and its store.
/// </summary>
sealed class WatchOperationsPage : OperationsPage<WatchOperationsPage.State>
{
    /// <summary>The most keys shown per source.</summary>
    public const int MaxKeys = 200;

    public override string Slug => "watch";

    public override string Title => "Watch";

    public override bool InUse(IServiceProvider services) =>
        services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(IWatchSourceView));

    protected override async Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var now = (services.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow().UtcDateTime;
        var sources = new List<Source>();
        foreach (var source in services.GetServices<IWatchSourceView>().DistinctBy(s => s.Name).OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            IReadOnlyList<WatchKeyInfo> keys;
            string? problem = null;
            try
            {
                keys = await source.Store.ListKeysAsync(source.Name, now, MaxKeys + 1, cancellationToken).ConfigureAwait(false);
            }
            catch (NotSupportedException e)
            {
                keys = [];
                problem = e.Message;
            }
            sources.Add(new Source(source.Name, source.Store.GetType().Name, keys.Take(MaxKeys).ToArray(), keys.Count > MaxKeys,
                keys.Take(MaxKeys).Sum(k => k.Watchers), source.PrunedUnreachable, source.PrunedExpired, problem));
        }
        return new State(sources);
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        if (state.Sources.Count == 0)
        {
            html.Element("p", "No watch source is registered.", ("class", "hint"), ("data-test", "watch-none"));
            return;
        }
        foreach (var s in state.Sources)
        {
            html.Raw("<section data-test=\"watch-source\"").Attr("data-source", s.Name).Raw(">");
            html.Element("h2", s.Name);
            html.Raw("<section class=\"counts\">");
            html.Count("Keys", s.Keys.Count, "watch-keys", s.More ? $"first {MaxKeys}" : null);
            html.Count("Watchers over the keys", s.Watchers, "watch-watchers");
            html.Count("Pruned, unreachable", s.PrunedUnreachable, "watch-pruned-unreachable");
            html.Count("Pruned, lease ended", s.PrunedExpired, "watch-pruned-expired");
            html.Raw("</section>");
            html.Element("p", $"Store: {s.Store}", ("class", "hint"), ("data-test", "watch-store"));
            if (s.Problem is not null)
                html.Element("p", s.Problem, ("class", "hint"), ("data-test", "watch-problem"));
            else if (s.Keys.Count == 0)
                html.Element("p", "No key has a value yet.", ("class", "hint"));
            else
            {
                html.Raw("<table><thead><tr><th>Key</th><th>Version</th><th>Changed</th><th>Watchers</th></tr></thead><tbody>");
                foreach (var k in s.Keys)
                {
                    html.Raw("<tr data-test=\"watch-row\"").Attr("data-key", k.Key).Raw(">");
                    html.Element("td", k.Key);
                    html.Element("td", k.Version.ToString(CultureInfo.InvariantCulture), ("data-test", "watch-version"),
                        ("data-value", k.Version.ToString(CultureInfo.InvariantCulture)));
                    var changed = new DateTimeOffset(DateTime.SpecifyKind(k.ChangedAt, DateTimeKind.Utc));
                    html.Element("td", $"{DashboardHtml.Time(changed)} ({DashboardHtml.Age(context.Now - changed)} ago)", ("data-test", "watch-changed"),
                        ("data-value", changed.ToString("O", CultureInfo.InvariantCulture)));
                    html.Element("td", k.Watchers.ToString(CultureInfo.InvariantCulture), ("data-test", "watch-key-watchers"),
                        ("data-value", k.Watchers.ToString(CultureInfo.InvariantCulture)));
                    html.Raw("</tr>");
                }
                html.Raw("</tbody></table>");
            }
            html.Raw("</section>");
        }
    }

    /// <summary>Every watch source of the app.</summary>
    public sealed record State(IReadOnlyList<Source> Sources);

    /// <summary>One watch source now.</summary>
    /// <param name="Name">Its name.</param>
    /// <param name="Store">Its store's type.</param>
    /// <param name="Keys">Its keys (at most <see cref="MaxKeys"/>).</param>
    /// <param name="More">True when it has more keys than shown.</param>
    /// <param name="Watchers">Live watchers summed over the keys shown (a watcher of several keys counts for each).</param>
    /// <param name="PrunedUnreachable">Watchers pruned since start as unreachable.</param>
    /// <param name="PrunedExpired">Watchers pruned since start as their lease ended.</param>
    /// <param name="Problem">Why the keys cannot be listed, if so.</param>
    public sealed record Source(string Name, string Store, IReadOnlyList<WatchKeyInfo> Keys, bool More, int Watchers, long PrunedUnreachable, long PrunedExpired,
        string? Problem);
}
