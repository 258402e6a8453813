using System.Globalization;
using System.Text.Json;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MassTransit.Patterns.Dashboard;

/// <summary>The console's pages: server-rendered HTML, every value encoded, one embedded script for the actions.</summary>
static class DashboardPages
{
    static readonly string[] States = ["Received", "Repairing", "Resubmitted", "AwaitingPerson", "Completed", "Discarded"];

    /// <summary>Scripts from this origin only, no inline script or handler, no framing.</summary>
    const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    public static void Map(RouteGroupBuilder group, string prefix, DashboardSections sections)
    {
        var pages = group.MapGroup("").ExcludeFromDescription();
        pages.MapGet("/", (HttpContext http, IWorkflowMessageStore store, DashboardAccess access, PatternsDashboardOptions options, CancellationToken ct) =>
            Page(http, prefix, sections, "Overview", "overview", html => Overview(html, store, options, ct)))
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
        pages.MapGet("/messages", (HttpContext http, [AsParameters] ListParameters parameters, IWorkflowMessageStore store, DashboardAccess access,
                CancellationToken ct) =>
            Page(http, prefix, sections, "Failed messages", "messages", html => List(html, http, parameters, store, access, ct)))
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
        pages.MapGet("/groups", (HttpContext http, [AsParameters] ListParameters parameters, IWorkflowMessageStore store, DashboardAccess access,
                CancellationToken ct) =>
            Page(http, prefix, sections, "Groups", "groups", html => Groups(html, http, parameters, store, access, ct)))
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
        pages.MapGet("/messages/{id:guid}", (HttpContext http, Guid id, IWorkflowMessageStore store, DashboardAccess access, DashboardRedaction redaction,
                CancellationToken ct) =>
            Page(http, prefix, sections, "Message", "messages", html => Message(html, http, id, store, access, redaction, ct)))
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
    }

    /// <summary>A page of the console: the shell (navigation, antiforgery token, script) around <paramref name="body"/>, with the console's security headers.</summary>
    public static async Task<IResult> Page(HttpContext http, string prefix, DashboardSections sections, string title, string section, Func<DashboardHtml, Task<int>> body)
    {
        var antiforgery = (IAntiforgery)http.RequestServices.GetService(typeof(IAntiforgery))!;
        var token = antiforgery.GetAndStoreTokens(http).RequestToken ?? "";
        var html = new DashboardHtml(http.Request.PathBase + prefix, sections);
        html.Begin(title, token, section);
        var status = await body(html).ConfigureAwait(false);
        http.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        http.Response.Headers.XContentTypeOptions = "nosniff";
        http.Response.Headers.CacheControl = "no-store";
        return Results.Content(html.End(), "text/html; charset=utf-8", statusCode: status);
    }

    static async Task<int> Overview(DashboardHtml html, IWorkflowMessageStore store, PatternsDashboardOptions options, CancellationToken ct)
    {
        var counts = await store.CountByStateAsync(ct).ConfigureAwait(false);
        html.Raw("<section class=\"counts\" data-test=\"state-counts\"").Attr("data-refresh-url", html.BasePath + "/api/counts")
            .Attr("data-refresh-ms", ((long)options.LiveRefreshInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Raw(">");
        foreach (var state in States.Concat(counts.Keys.Except(States)))
        {
            html.Raw("<a class=\"count\"").Attr("href", html.BasePath + "/messages?state=" + Uri.EscapeDataString(state))
                .Attr("data-test", "state-count-" + state).Attr("data-state", state).Raw(">");
            html.Element("span", state, ("class", "label"));
            html.Element("span", (counts.TryGetValue(state, out var n) ? n : 0).ToString(CultureInfo.InvariantCulture), ("class", "value"), ("data-test", "state-count-value"));
            html.Raw("</a>");
        }
        html.Raw("</section>");
        html.Element("p", $"Counts refresh every {options.LiveRefreshInterval.TotalSeconds:0.#} s.", ("class", "hint"), ("data-test", "refresh-note"));
        return StatusCodes.Status200OK;
    }

    static async Task<int> List(DashboardHtml html, HttpContext http, ListParameters parameters, IWorkflowMessageStore store, DashboardAccess access,
        CancellationToken ct)
    {
        var (query, error) = parameters.ToQuery();
        FilterForm(html, parameters, await ExceptionTypes(store, ct).ConfigureAwait(false));
        if (query is null)
        {
            html.Element("p", error, ("class", "error"), ("data-test", "error"));
            return StatusCodes.Status400BadRequest;
        }
        var page = await store.ListAsync(query, ct).ConfigureAwait(false);
        var retry = await access.AllowedAsync(http, DashboardAction.Resubmit).ConfigureAwait(false);
        var discard = await access.AllowedAsync(http, DashboardAction.Discard).ConfigureAwait(false);
        var bulk = (retry || discard) && (await access.ActorAsync(http).ConfigureAwait(false)).Actor is not null;
        html.Element("p", $"{page.Total} message(s); page {page.Page} of {Math.Max(1, (page.Total + page.PageSize - 1) / page.PageSize)}.",
            ("data-test", "list-total"), ("data-total", page.Total.ToString(CultureInfo.InvariantCulture)));
        if (bulk)
            BulkControls(html, retry, discard);
        html.Raw("<table class=\"list\" data-test=\"message-table\"><thead><tr>");
        if (bulk)
            html.Raw("<th><input type=\"checkbox\" data-test=\"select-all\" aria-label=\"select all\"></th>");
        foreach (var (label, sort) in new[] { ("Received", "ReceivedAt"), ("State", "State"), ("Message type", "MessageType"), ("Exception", "ExceptionType"),
                     ("Source", "SourceAddress"), ("Failures", "Failures"), ("Updated", "UpdatedAt") })
        {
            var desc = string.Equals(parameters.Sort ?? "ReceivedAt", sort, StringComparison.OrdinalIgnoreCase) ? !(parameters.Desc ?? true) : true;
            html.Raw("<th><a").Attr("href", Link(html, "/messages", parameters, ("sort", sort), ("desc", desc ? "true" : "false"), ("page", null)))
                .Attr("data-test", "sort-" + sort).Raw(">").Text(label).Raw("</a></th>");
        }
        html.Raw("<th>Exception message</th></tr></thead><tbody>");
        foreach (var m in page.Items)
        {
            var id = m.CorrelationId.ToString();
            html.Raw("<tr data-test=\"message-row\"").Attr("data-id", id).Attr("data-state", m.State).Raw(">");
            if (bulk)
                html.Raw("<td><input type=\"checkbox\" data-test=\"select-row\"").Attr("value", id).Attr("aria-label", "select " + id).Raw("></td>");
            html.Raw("<td><a").Attr("href", html.BasePath + "/messages/" + id).Attr("data-test", "message-link").Raw(">").Text(Time(m.ReceivedAt)).Raw("</a></td>");
            html.Element("td", m.State, ("data-test", "row-state"));
            html.Element("td", m.MessageType ?? "(malformed)", ("data-test", "row-message-type"));
            html.Element("td", m.ExceptionType, ("data-test", "row-exception-type"));
            html.Element("td", m.SourceAddress?.ToString(), ("data-test", "row-source"));
            html.Element("td", m.Failures.ToString(CultureInfo.InvariantCulture));
            html.Element("td", Time(m.UpdatedAt));
            html.Element("td", m.ExceptionMessage, ("data-test", "row-exception-message"));
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table><nav class=\"pager\" data-test=\"pager\">");
        if (page.Page > 1)
            html.Raw("<a").Attr("href", Link(html, "/messages", parameters, ("page", (page.Page - 1).ToString(CultureInfo.InvariantCulture))))
                .Attr("data-test", "page-previous").Raw(">Previous</a>");
        if ((long)page.Page * page.PageSize < page.Total)
            html.Raw("<a").Attr("href", Link(html, "/messages", parameters, ("page", (page.Page + 1).ToString(CultureInfo.InvariantCulture))))
                .Attr("data-test", "page-next").Raw(">Next</a>");
        html.Raw("</nav>");
        return StatusCodes.Status200OK;
    }

    static void BulkControls(DashboardHtml html, bool retry, bool discard)
    {
        html.Raw("<div class=\"bulk\" data-test=\"bulk-controls\">");
        if (retry)
            html.Raw("<button type=\"button\" data-test=\"bulk-retry\" data-bulk=\"retry\">Retry selected</button>");
        if (discard)
            html.Raw("<input type=\"text\" data-test=\"bulk-reason\" placeholder=\"reason to discard\" aria-label=\"reason to discard\">")
                .Raw("<button type=\"button\" data-test=\"bulk-discard\" data-bulk=\"discard\">Discard selected</button>");
        html.Raw("<span class=\"progress\" data-test=\"bulk-progress\" aria-live=\"polite\"></span>")
            .Raw("<button type=\"button\" data-test=\"bulk-cancel\" hidden>Cancel</button></div>");
    }

    static void FilterForm(DashboardHtml html, ListParameters p, IReadOnlyList<string> exceptionTypes)
    {
        html.Raw("<form class=\"filters\" method=\"get\" data-test=\"filters\"").Attr("action", html.BasePath + "/messages").Raw(">");
        html.Raw("<label>State <select name=\"state\" data-test=\"filter-state\"><option value=\"\">any</option>");
        foreach (var state in States)
        {
            html.Raw("<option").Attr("value", state);
            if (string.Equals(p.State, state, StringComparison.Ordinal))
                html.Raw(" selected");
            html.Raw(">").Text(state).Raw("</option>");
        }
        html.Raw("</select></label>");
        Input(html, "Message type", "messageType", p.MessageType, "filter-message-type");
        Input(html, "Exception type", "exceptionType", p.ExceptionType, "filter-exception-type", "exception-types");
        html.Raw("<datalist id=\"exception-types\">");
        foreach (var type in exceptionTypes)
            html.Raw("<option").Attr("value", type).Raw(">");
        html.Raw("</datalist>");
        Input(html, "Source queue", "source", p.Source, "filter-source");
        Input(html, "From", "from", p.From, "filter-from");
        Input(html, "To", "to", p.To, "filter-to");
        Input(html, "Search", "q", p.Q, "filter-search");
        if (p.Sort is not null)
            html.Raw("<input type=\"hidden\" name=\"sort\"").Attr("value", p.Sort).Raw(">");
        if (p.Desc is { } desc)
            html.Raw("<input type=\"hidden\" name=\"desc\"").Attr("value", desc ? "true" : "false").Raw(">");
        if (p.PageSize is { } size)
            html.Raw("<input type=\"hidden\" name=\"pageSize\"").Attr("value", size.ToString(CultureInfo.InvariantCulture)).Raw(">");
        html.Raw("<button type=\"submit\" data-test=\"filter-apply\">Apply</button></form>");
    }

    static void Input(DashboardHtml html, string label, string name, string? value, string test, string? list = null)
    {
        html.Raw("<label>").Text(label).Raw(" <input type=\"text\"").Attr("name", name).Attr("value", value).Attr("data-test", test);
        if (list is not null)
            html.Attr("list", list);
        html.Raw("></label>");
    }

    static async Task<IReadOnlyList<string>> ExceptionTypes(IWorkflowMessageStore store, CancellationToken ct)
    {
        var groups = await store.GroupsAsync(new WorkflowMessageFilter(), WorkflowGrouping.ExceptionAndMessageType, ct).ConfigureAwait(false);
        return [.. groups.Select(g => g.ExceptionType).OfType<string>().Distinct().Order(StringComparer.Ordinal).Take(200)];
    }

    static async Task<int> Groups(DashboardHtml html, HttpContext http, ListParameters parameters, IWorkflowMessageStore store, DashboardAccess access,
        CancellationToken ct)
    {
        var (filter, error) = parameters.ToFilter();
        var grouping = parameters.Grouping();
        html.Raw("<p class=\"tabs\">");
        html.Raw("<a").Attr("href", Link(html, "/groups", parameters, ("by", "exception"))).Attr("data-test", "group-by-exception").Raw(">By exception and message type</a> ");
        html.Raw("<a").Attr("href", Link(html, "/groups", parameters, ("by", "source"))).Attr("data-test", "group-by-source").Raw(">By source queue</a></p>");
        if (filter is null || grouping is null)
        {
            html.Element("p", error ?? $"by: '{parameters.By}' is not exception or source.", ("class", "error"), ("data-test", "error"));
            return StatusCodes.Status400BadRequest;
        }
        html.Element("p", filter.State is { } s ? "Messages in " + s + "." : "Messages in every state.", ("data-test", "groups-scope"));
        var groups = await store.GroupsAsync(filter, grouping.Value, ct).ConfigureAwait(false);
        var retry = await access.AllowedAsync(http, DashboardAction.Resubmit).ConfigureAwait(false);
        var discard = await access.AllowedAsync(http, DashboardAction.Discard).ConfigureAwait(false);
        var actor = (await access.ActorAsync(http).ConfigureAwait(false)).Actor is not null;
        retry &= actor;
        discard &= actor;
        html.Raw("<table class=\"list\" data-test=\"group-table\"><thead><tr>");
        if (grouping == WorkflowGrouping.SourceQueue)
            html.Raw("<th>Source queue</th>");
        else
            html.Raw("<th>Exception type</th><th>Message type</th>");
        html.Raw("<th>Count</th><th>First</th><th>Last</th><th></th></tr></thead><tbody>");
        foreach (var g in groups)
        {
            var groupFilter = g.ToFilter(filter);
            var filterJson = JsonSerializer.Serialize(groupFilter, JsonOptions);
            html.Raw("<tr data-test=\"group-row\"").Attr("data-filter", filterJson).Attr("data-count", g.Count.ToString(CultureInfo.InvariantCulture)).Raw(">");
            if (grouping == WorkflowGrouping.SourceQueue)
                html.Element("td", g.SourceAddress, ("data-test", "group-source"));
            else
            {
                html.Element("td", g.ExceptionType, ("data-test", "group-exception-type"));
                html.Element("td", g.MessageType ?? "(malformed)", ("data-test", "group-message-type"));
            }
            html.Raw("<td><a").Attr("href", Link(html, "/messages", parameters, ("exceptionType", groupFilter.ExceptionType), ("messageType", groupFilter.MessageType),
                    ("source", groupFilter.SourceAddress), ("by", null)))
                .Attr("data-test", "group-count").Raw(">").Text(g.Count.ToString(CultureInfo.InvariantCulture)).Raw("</a></td>");
            html.Element("td", Time(g.FirstReceivedAt));
            html.Element("td", Time(g.LastReceivedAt));
            html.Raw("<td class=\"actions\">");
            if (retry)
                html.Raw("<button type=\"button\" data-test=\"group-retry\" data-bulk-group=\"retry\">Retry group</button>");
            if (discard)
                html.Raw("<input type=\"text\" data-test=\"group-reason\" placeholder=\"reason to discard\" aria-label=\"reason to discard\">")
                    .Raw("<button type=\"button\" data-test=\"group-discard\" data-bulk-group=\"discard\">Discard group</button>");
            html.Raw("<span class=\"progress\" data-test=\"bulk-progress\" aria-live=\"polite\"></span></td></tr>");
        }
        html.Raw("</tbody></table>");
        if (groups.Count == 0)
            html.Element("p", "No messages.", ("data-test", "groups-empty"));
        return StatusCodes.Status200OK;
    }

    static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    static async Task<int> Message(DashboardHtml html, HttpContext http, Guid id, IWorkflowMessageStore store, DashboardAccess access, DashboardRedaction redaction,
        CancellationToken ct)
    {
        var details = await store.FindAsync(id, ct).ConfigureAwait(false);
        if (details is not { Found: true })
        {
            html.Element("p", $"No workflow message has the id {id}.", ("class", "error"), ("data-test", "not-found"));
            return StatusCodes.Status404NotFound;
        }
        var view = DashboardApi.View(details, redaction);
        var s = view.Summary;
        var api = html.BasePath + "/api/messages/" + id;
        html.Raw("<section data-test=\"message\"").Attr("data-id", id.ToString()).Attr("data-version", view.Version.ToString(CultureInfo.InvariantCulture)).Raw(">");
        html.Raw("<dl class=\"facts\">");
        Fact(html, "Id", id.ToString(), "message-id");
        Fact(html, "State", s.State, "message-state");
        Fact(html, "Version", view.Version.ToString(CultureInfo.InvariantCulture), "message-version");
        Fact(html, "Message type", s.MessageType ?? "(malformed)", "message-type");
        Fact(html, "Source", s.SourceAddress?.ToString(), "message-source");
        Fact(html, "Content type", view.ContentType, "message-content-type");
        Fact(html, "Received", Time(s.ReceivedAt), "message-received");
        Fact(html, "Updated", Time(s.UpdatedAt), "message-updated");
        Fact(html, "Failures", s.Failures.ToString(CultureInfo.InvariantCulture), "message-failures");
        Fact(html, "Repair attempts", $"{view.RepairAttempts} of {view.MaxRepairAttempts}", "message-repair-attempts");
        Fact(html, "Original id", view.OriginalId.ToString(), "lineage-original");
        Fact(html, "Resubmitted copies", view.Attempt.ToString(CultureInfo.InvariantCulture), "lineage-attempt");
        Fact(html, "Last resubmitted by", view.ResubmittedBy ?? "-", "lineage-resubmitted-by");
        Fact(html, "Resolved", view.ResolvedAt is { } r ? Time(r) : "-", "message-resolved");
        if (view.HoldKey is not null)
            Fact(html, "Holding key", $"{view.HoldKey} ({view.HeldCount} held)", "message-hold");
        html.Raw("</dl>");

        html.Element("h2", "Exception");
        html.Element("p", $"{s.ExceptionType}: {s.ExceptionMessage}", ("data-test", "exception-message"));
        html.Element("pre", view.ExceptionDetail ?? "", ("class", "stack"), ("data-test", "exception-detail"));

        html.Element("h2", view.BodyIsBase64 ? "Body (base64: not UTF-8 text)" : "Body");
        html.Element("pre", view.PrettyBody, ("class", "body"), ("data-test", "message-body"));

        html.Element("h2", "Headers");
        html.Raw("<table data-test=\"header-table\"><tbody>");
        foreach (var (name, value) in view.Headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            html.Raw("<tr data-test=\"header-row\"").Attr("data-name", name).Raw(">");
            html.Element("th", name);
            html.Element("td", value, ("data-test", "header-value"));
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");

        await Actions(html, http, view, api, access).ConfigureAwait(false);

        html.Element("h2", "Audit");
        html.Raw("<table data-test=\"audit-table\"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Detail</th></tr></thead><tbody>");
        foreach (var entry in view.Audit)
        {
            html.Raw("<tr data-test=\"audit-row\"").Attr("data-action", entry.Action).Raw(">");
            html.Element("td", Time(entry.At));
            html.Element("td", entry.Actor, ("data-test", "audit-actor"));
            html.Element("td", entry.Action, ("data-test", "audit-action"));
            html.Element("td", entry.Detail, ("data-test", "audit-detail"));
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table></section>");
        return StatusCodes.Status200OK;
    }

    static async Task Actions(DashboardHtml html, HttpContext http, MessageView view, string api, DashboardAccess access)
    {
        var signedOff = (await access.ActorAsync(http).ConfigureAwait(false)).Actor is null;
        var edit = !signedOff && await access.AllowedAsync(http, DashboardAction.Edit).ConfigureAwait(false);
        var resubmit = !signedOff && await access.AllowedAsync(http, DashboardAction.Resubmit).ConfigureAwait(false);
        var discard = !signedOff && await access.AllowedAsync(http, DashboardAction.Discard).ConfigureAwait(false);
        var state = view.Summary.State;
        html.Raw("<section class=\"actions\" data-test=\"actions\">");
        html.Raw("<p class=\"result\" data-test=\"action-result\" aria-live=\"polite\"></p>");
        // After an accepted action the script loads the page again with ?done=KIND: say what was done (fixed texts only).
        var done = http.Request.Query["done"].ToString() switch
        {
            "edit" => "Your edit was saved; the body below is the new one.",
            "resubmit" => "Resubmitted to its source queue.",
            "discard" => "Discarded.",
            "restore" => "Restored: it waits for a person again.",
            _ => null
        };
        if (done is not null)
            html.Element("p", done, ("class", "notice"), ("data-test", "action-notice"));
        if (signedOff)
            html.Element("p", "Sign in to change this message: every change is recorded with who made it.", ("data-test", "sign-in-note"));
        if (state == "AwaitingPerson")
        {
            if (edit)
            {
                html.Element("h2", "Edit the body");
                html.Raw("<form data-test=\"edit-form\" data-api-form=\"edit\"").Attr("data-url", api + "/edit").Raw(">");
                html.Raw("<textarea name=\"body\" rows=\"16\" spellcheck=\"false\" data-test=\"edit-body\" aria-label=\"body\">").Text(view.PrettyBody).Raw("</textarea>");
                html.Raw("<input type=\"hidden\" name=\"expectedVersion\" data-test=\"edit-version\"").Attr("value", view.Version.ToString(CultureInfo.InvariantCulture)).Raw(">");
                html.Raw("<label>Content type <input type=\"text\" name=\"contentType\" data-test=\"edit-content-type\"").Attr("value", view.ContentType).Raw("></label>");
                html.Raw("<label>Comment <input type=\"text\" name=\"comment\" data-test=\"edit-comment\"></label>");
                html.Raw("<button type=\"submit\" data-test=\"save-edit\">Save</button></form>");
            }
            if (resubmit)
                html.Raw("<form data-test=\"resubmit-form\" data-api-form=\"resubmit\"").Attr("data-url", api + "/resubmit").Raw(">")
                    .Raw("<label>Comment <input type=\"text\" name=\"reason\" data-test=\"resubmit-comment\"></label>")
                    .Raw("<button type=\"submit\" data-test=\"resubmit\">Resubmit</button></form>");
            if (discard)
                html.Raw("<form data-test=\"discard-form\" data-api-form=\"discard\"").Attr("data-url", api + "/discard").Raw(">")
                    .Raw("<label>Reason <input type=\"text\" name=\"reason\" required data-test=\"discard-reason\"></label>")
                    .Raw("<button type=\"submit\" data-test=\"discard\">Discard</button></form>");
        }
        else if (state == "Discarded" && discard)
            html.Raw("<form data-test=\"restore-form\" data-api-form=\"restore\"").Attr("data-url", api + "/restore").Raw(">")
                .Raw("<label>Comment <input type=\"text\" name=\"reason\" data-test=\"restore-comment\"></label>")
                .Raw("<button type=\"submit\" data-test=\"restore\">Restore</button></form>");
        html.Raw("</section>");
    }

    static void Fact(DashboardHtml html, string label, string? value, string test)
    {
        html.Element("dt", label);
        html.Element("dd", value, ("data-test", test));
    }

    static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>A link to <paramref name="path"/> with the current parameters, some replaced (null: removed).</summary>
    static string Link(DashboardHtml html, string path, ListParameters p, params (string Name, string? Value)[] changes)
    {
        var values = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["state"] = p.State,
            ["messageType"] = p.MessageType,
            ["exceptionType"] = p.ExceptionType,
            ["source"] = p.Source,
            ["from"] = p.From,
            ["to"] = p.To,
            ["q"] = p.Q,
            ["sort"] = p.Sort,
            ["desc"] = p.Desc is { } d ? (d ? "true" : "false") : null,
            ["page"] = p.Page?.ToString(CultureInfo.InvariantCulture),
            ["pageSize"] = p.PageSize?.ToString(CultureInfo.InvariantCulture),
            ["by"] = p.By
        };
        foreach (var (name, value) in changes)
            values[name] = value;
        var query = string.Join("&", values.Where(v => !string.IsNullOrEmpty(v.Value)).Select(v => v.Key + "=" + Uri.EscapeDataString(v.Value!)));
        return html.BasePath + path + (query.Length == 0 ? "" : "?" + query);
    }
}
