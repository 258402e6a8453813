using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// The operations view: <c>{prefix}/ops</c> (every pattern in use), <c>{prefix}/ops/{slug}</c> (one pattern, its live part
/// refreshed from <c>{prefix}/ops/{slug}/live</c>), the same state as JSON at <c>{prefix}/api/ops/{slug}</c>, and the
/// actions at <c>POST {prefix}/api/ops/{slug}/{action}</c> (operate policy, antiforgery, audited).
/// </summary>
static class OperationsRoutes
{
    static readonly JsonSerializerOptions Json = CreateJson();

    static JsonSerializerOptions CreateJson()
    {
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        json.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
        return json;
    }

    public static void Map(RouteGroupBuilder group, string prefix, DashboardSections sections)
    {
        var pages = group.MapGroup("/ops").ExcludeFromDescription();
        pages.MapGet("", (HttpContext http, OperationsAudit audit) =>
                DashboardPages.Page(http, prefix, sections, "Operations", "ops", html => Task.FromResult(Overview(html, sections, audit))))
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
        var api = group.MapGroup("/api/ops").WithGroupName(DashboardApi.DocumentName).WithTags("Operations");
        api.MapGet("", () => TypedResults.Ok(sections.Operations.Select(p => new OperationsPageLink(p.Slug, p.Title)).ToArray()))
            .WithName("PatternsOperationsPages").WithSummary("The operations pages of the patterns this app uses.")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
        api.MapGet("/audit", (OperationsAudit audit) => TypedResults.Ok(audit.Latest()))
            .WithName("PatternsOperationsAudit").WithSummary("The latest actions taken from the operations view, newest first.")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));

        foreach (var page in sections.Operations)
        {
            var p = page;
            pages.MapGet("/" + p.Slug, (HttpContext http, OperationsAudit audit, DashboardAccess access, PatternsDashboardOptions options, CancellationToken ct) =>
                    DashboardPages.Page(http, prefix, sections, p.Title, "ops-" + p.Slug, html => PageBody(html, http, p, audit, access, options, ct)))
                .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
            pages.MapGet("/" + p.Slug + "/live", async (HttpContext http, DashboardAccess access, CancellationToken ct) =>
                {
                    var html = new DashboardHtml(http.Request.PathBase + prefix, sections);
                    await Live(html, http, p, access, ct).ConfigureAwait(false);
                    http.Response.Headers.CacheControl = "no-store";
                    http.Response.Headers.XContentTypeOptions = "nosniff";
                    return Results.Content(html.ToString(), "text/html; charset=utf-8");
                })
                .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
            api.MapGet("/" + p.Slug, async (HttpContext http, CancellationToken ct) =>
                    Results.Json(await p.ReadAsync(http.RequestServices, ct).ConfigureAwait(false), Json))
                .WithName("PatternsOperations-" + p.Slug).WithSummary($"{p.Title}: the state now, read from the running components.")
                .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));
            foreach (var action in p.Actions)
            {
                var a = action;
                api.MapPost("/" + p.Slug + "/" + a, (HttpContext http, OperationsAudit audit, DashboardAccess access, CancellationToken ct) =>
                        Act(http, p, a, audit, access, ct))
                    .WithName("PatternsOperations-" + p.Slug + "-" + a).WithSummary($"{p.Title}: {a} (operate policy; audited).")
                    .Produces<OperationsActionResponse>().Produces<OperationsActionResponse>(StatusCodes.Status404NotFound)
                    .Produces<OperationsActionResponse>(StatusCodes.Status409Conflict).Produces<OperationsActionResponse>(StatusCodes.Status422UnprocessableEntity)
                    .AddEndpointFilter(new DashboardGuard(DashboardAction.Operate, true));
            }
        }
    }

    static async Task<IResult> Act(HttpContext http, OperationsPage page, string action, OperationsAudit audit, DashboardAccess access, CancellationToken ct)
    {
        var (actor, refusal) = await access.ActorAsync(http).ConfigureAwait(false);
        if (refusal is not null)
            return refusal;
        JsonElement body;
        try
        {
            body = http.Request.ContentLength is 0 or null && !http.Request.Headers.TransferEncoding.Any()
                ? JsonDocument.Parse("{}").RootElement
                : (await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: ct).ConfigureAwait(false)).RootElement;
        }
        catch (JsonException e)
        {
            return Results.Json(new OperationsActionResponse(StatusCodes.Status400BadRequest, "The body is not JSON: " + e.Message, null), Json,
                statusCode: StatusCodes.Status400BadRequest);
        }
        var result = await page.ActAsync(action, body, http.RequestServices, ct).ConfigureAwait(false);
        audit.Record(actor!, page.Slug, action, result);
        return Results.Json(new OperationsActionResponse(result.Status, result.Outcome, result.Target), Json, statusCode: result.Status);
    }

    static int Overview(DashboardHtml html, DashboardSections sections, OperationsAudit audit)
    {
        html.Raw("<section class=\"ops-cards\" data-test=\"ops-pages\">");
        foreach (var page in sections.Operations)
        {
            html.Raw("<a class=\"count\"").Attr("href", html.BasePath + "/ops/" + page.Slug).Attr("data-test", "ops-page-" + page.Slug).Raw(">");
            html.Element("span", page.Title, ("class", "label"));
            html.Raw("</a>");
        }
        html.Raw("</section>");
        AuditTable(html, audit.Latest());
        return StatusCodes.Status200OK;
    }

    static async Task<int> PageBody(DashboardHtml html, HttpContext http, OperationsPage page, OperationsAudit audit, DashboardAccess access,
        PatternsDashboardOptions options, CancellationToken ct)
    {
        html.Raw("<section class=\"ops-live\" data-test=\"ops-live\"").Attr("data-live-url", html.BasePath + "/ops/" + page.Slug + "/live")
            .Attr("data-refresh-ms", ((long)options.OperationsRefreshInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Raw(">");
        await Live(html, http, page, access, ct).ConfigureAwait(false);
        html.Raw("</section>");
        html.Raw("<p class=\"result\" data-test=\"ops-action-result\" aria-live=\"polite\"></p>");
        html.Element("p", $"Refreshes every {options.OperationsRefreshInterval.TotalSeconds:0.#} s; the same state as JSON: api/ops/{page.Slug}.", ("class", "hint"),
            ("data-test", "refresh-note"));
        AuditTable(html, audit.Latest(page.Slug));
        return StatusCodes.Status200OK;
    }

    static async Task Live(DashboardHtml html, HttpContext http, OperationsPage page, DashboardAccess access, CancellationToken ct)
    {
        var state = await page.ReadAsync(http.RequestServices, ct).ConfigureAwait(false);
        var operate = page.Actions.Count > 0 && await access.AllowedAsync(http, DashboardAction.Operate).ConfigureAwait(false)
            && (await access.ActorAsync(http).ConfigureAwait(false)).Actor is not null;
        var time = http.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;
        page.Render(html, state, new OperationsRenderContext(html.BasePath, page.Slug, operate, time.GetUtcNow()));
    }

    static void AuditTable(DashboardHtml html, IReadOnlyList<OperationsAuditEntry> entries)
    {
        html.Element("h2", "Actions taken");
        if (entries.Count == 0)
        {
            html.Element("p", "None yet.", ("class", "hint"), ("data-test", "ops-audit-empty"));
            return;
        }
        html.Raw("<table data-test=\"ops-audit\"><thead><tr><th>When</th><th>Who</th><th>Page</th><th>Action</th><th>Target</th><th>Outcome</th></tr></thead><tbody>");
        foreach (var e in entries)
        {
            html.Raw("<tr data-test=\"ops-audit-row\"").Attr("data-action", e.Action).Attr("data-status", e.Status.ToString(CultureInfo.InvariantCulture)).Raw(">");
            html.Element("td", DashboardHtml.Time(e.At));
            html.Element("td", e.Actor, ("data-test", "ops-audit-actor"));
            html.Element("td", e.Page);
            html.Element("td", e.Action);
            html.Element("td", e.Target, ("data-test", "ops-audit-target"));
            html.Element("td", e.Outcome, ("data-test", "ops-audit-outcome"));
            html.Raw("</tr>");
        }
        html.Raw("</tbody></table>");
    }
}
