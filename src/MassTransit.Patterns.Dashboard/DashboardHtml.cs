using System.Text;
using System.Text.Encodings.Web;

namespace MassTransit.Patterns.Dashboard;

/// <summary>Builds a page: every value goes through <see cref="HtmlEncoder"/> (<see cref="Text"/>, <see cref="Attr"/>); markup is written only as literals.</summary>
sealed class DashboardHtml(string basePath, DashboardSections sections)
{
    static readonly HtmlEncoder Encoder = HtmlEncoder.Default;
    readonly StringBuilder _html = new();

    public string BasePath { get; } = basePath;

    public DashboardSections Sections { get; } = sections;

    /// <summary>Appends markup written in this assembly (never a value).</summary>
    public DashboardHtml Raw(string markup)
    {
        _html.Append(markup);
        return this;
    }

    /// <summary>Appends a value as text.</summary>
    public DashboardHtml Text(string? value)
    {
        _html.Append(Encoder.Encode(value ?? ""));
        return this;
    }

    /// <summary>Appends <c> name="value"</c> with the value encoded.</summary>
    public DashboardHtml Attr(string name, string? value)
    {
        _html.Append(' ').Append(name).Append("=\"").Append(Encoder.Encode(value ?? "")).Append('"');
        return this;
    }

    /// <summary>Appends an element with text content: <c>&lt;tag attrs&gt;text&lt;/tag&gt;</c>.</summary>
    public DashboardHtml Element(string tag, string? text, params (string Name, string? Value)[] attributes)
    {
        _html.Append('<').Append(tag);
        foreach (var (name, value) in attributes)
            Attr(name, value);
        _html.Append('>');
        Text(text);
        _html.Append("</").Append(tag).Append('>');
        return this;
    }

    public static string Encode(string? value) => Encoder.Encode(value ?? "");

    public void Begin(string title, string antiforgeryToken, string? section)
    {
        Raw("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        Raw("<title>").Text(title).Raw(" · MassTransit.Patterns</title>");
        Raw("<meta name=\"patterns-antiforgery\"").Attr("content", antiforgeryToken).Attr("data-header", DashboardGuard.HeaderName).Raw(">");
        Raw("<meta name=\"patterns-base\"").Attr("content", BasePath).Raw(">");
        Raw("<link rel=\"stylesheet\"").Attr("href", BasePath + "/assets/dashboard.css").Raw(">");
        Raw("<link rel=\"icon\" type=\"image/svg+xml\"").Attr("href", BasePath + "/assets/favicon.svg").Raw(">");
        Raw("<script defer").Attr("src", BasePath + "/assets/dashboard.js").Raw("></script></head><body>");
        Raw("<header><nav data-test=\"nav\">");
        Raw("<a class=\"brand\"").Attr("href", BasePath + "/").Raw(">MassTransit.Patterns</a>");
        if (Sections.Workflow)
        {
            NavLink("Overview", "/", "nav-overview", section == "overview");
            NavLink("Failed messages", "/messages?state=AwaitingPerson", "nav-messages", section == "messages");
            NavLink("Groups", "/groups?state=AwaitingPerson", "nav-groups", section == "groups");
        }
        if (Sections.Operations.Count > 0)
        {
            NavLink("Operations", "/ops", "nav-ops", section == "ops");
            Raw("<span class=\"ops-nav\">");
            foreach (var page in Sections.Operations)
                NavLink(page.Title, "/ops/" + page.Slug, "nav-ops-" + page.Slug, section == "ops-" + page.Slug);
            Raw("</span>");
        }
        Raw("</nav></header><main>");
        Element("h1", title, ("data-test", "page-title"));
    }

    void NavLink(string text, string path, string test, bool current)
    {
        Raw("<a").Attr("href", BasePath + path).Attr("data-test", test);
        if (current)
            Raw(" aria-current=\"page\"");
        Raw(">").Text(text).Raw("</a>");
    }

    /// <summary>A time as the console shows it: UTC, to the second.</summary>
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A duration as the pages show it: seconds below 2 minutes, minutes below 2 hours, then hours.</summary>
    public static string Age(TimeSpan age) => age.TotalSeconds < 0 ? "0 s"
        : age.TotalMinutes < 2 ? $"{age.TotalSeconds:0} s"
        : age.TotalHours < 2 ? $"{age.TotalMinutes:0} min"
        : $"{age.TotalHours:0.#} h";

    /// <summary>A count card: its label, the number shown as <paramref name="text"/> (default: the number), a hint under it; <c>data-test</c> and <c>data-value</c> on the card.</summary>
    public DashboardHtml Count(string label, long value, string test, string? hint = null, string? text = null)
    {
        var number = value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Raw("<div class=\"count\"").Attr("data-test", test).Attr("data-value", number).Raw(">");
        Element("span", label, ("class", "label"));
        Element("span", text ?? number, ("class", "value"));
        if (hint is not null)
            Element("span", hint, ("class", "label"));
        return Raw("</div>");
    }

    /// <summary>The markup so far (a fragment, for the live parts).</summary>
    public override string ToString() => _html.ToString();

    public string End()
    {
        Raw("</main></body></html>");
        return _html.ToString();
    }
}
