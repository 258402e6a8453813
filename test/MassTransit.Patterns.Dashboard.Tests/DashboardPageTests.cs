using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MassTransit.Patterns.Dashboard.TestHost;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>The console's pages: values escaped, secrets redacted, controls only for what the user may do.</summary>
public sealed class DashboardPageTests
{
    const string Pages = DashboardHost.Prefix;
    static readonly string AllRoles = "viewer,editor,resubmitter,discarder";

    [Fact]
    public async Task A_body_containing_a_script_tag_is_shown_as_text()
    {
        await using var host = DashboardHost.WithPolicies();
        var id = (await host.FailedOrdersAsync(1, _ => new PlaceOrder(Guid.NewGuid(), 0, "<script>alert('owned')</script>")))[0];
        var alice = await host.ClientAsync("alice", AllRoles);

        var response = await alice.GetAsync($"{Pages}/messages/{id}");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(", html, StringComparison.Ordinal);
        // The only script is the package's, from its own file: no inline script, no handler attributes.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "<script", System.Text.RegularExpressions.RegexOptions.IgnoreCase));
        Assert.Contains("src=\"/patterns/assets/dashboard.js\"", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(" on[a-z]+=", html);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var list = await alice.GetStringAsync($"{Pages}/messages?q=owned");
        Assert.DoesNotContain("<script>alert", list, StringComparison.Ordinal);
        Assert.Contains($"data-id=\"{id}\"", list, StringComparison.Ordinal);
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
    }

    [Fact]
    public async Task Redacted_headers_never_appear_in_the_page_or_the_api()
    {
        await using var host = DashboardHost.WithPolicies();
        var id = (await host.FailedOrdersAsync(1, _ => new PlaceOrder(Guid.NewGuid(), 1, null)))[0];
        // (the headers are set on a second message: FailedOrdersAsync sends without headers)
        var withHeaders = await host.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, null), c =>
        {
            c.Headers.Set("Authorization", "Bearer SECRET-AUTH");
            c.Headers.Set("X-Api-Token", "SECRET-TOKEN");
            c.Headers.Set("X-Db-Password", "SECRET-PASSWORD");
            c.Headers.Set("X-Tenant", "acme-tenant");
        });
        await host.WaitForStateAsync(withHeaders, "AwaitingPerson", "the order with headers waits for a person");
        var alice = await host.ClientAsync("alice", AllRoles);

        var page = await alice.GetStringAsync($"{Pages}/messages/{withHeaders}");
        var api = await alice.GetStringAsync($"{Pages}/api/messages/{withHeaders}");
        var stored = await host.FindAsync(withHeaders);

        // The store holds them (so the test is not vacuous); neither the page nor the API shows them.
        Assert.Contains("SECRET-AUTH", stored!.Body + string.Join(";", stored.Headers.Values), StringComparison.Ordinal);
        foreach (var shown in new[] { page, api })
        {
            Assert.DoesNotContain("SECRET-", shown, StringComparison.Ordinal);
            Assert.Contains("acme-tenant", shown, StringComparison.Ordinal);
            Assert.Contains("(redacted)", shown, StringComparison.Ordinal);
        }
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson", [withHeaders] = "AwaitingPerson" },
            new Dictionary<Guid, int> { [id] = 0, [withHeaders] = 0 });
    }

    [Fact]
    public async Task An_edit_of_an_envelope_keeps_the_redacted_header_values_it_did_not_show()
    {
        await using var host = DashboardHost.WithPolicies();
        var id = await host.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, null), c => c.Headers.Set("Authorization", "Bearer SECRET-AUTH"));
        await host.WaitForStateAsync(id, "AwaitingPerson", "waits for a person");
        var alice = await host.ClientAsync("alice", AllRoles);
        var view = (await alice.GetFromJsonAsync<JsonObject>($"{Pages}/api/messages/{id}", DashboardHost.Json))!;
        var body = JsonNode.Parse((string)view["body"]!)!.AsObject();
        body["message"]!["currency"] = "EUR";

        var edit = await alice.PostAsJsonAsync($"{Pages}/api/messages/{id}/edit", new { body = body.ToJsonString(), expectedVersion = (int)view["version"]! }, DashboardHost.Json);
        Assert.True(edit.IsSuccessStatusCode, await edit.Content.ReadAsStringAsync());

        var stored = await host.FindAsync(id);
        Assert.Contains("SECRET-AUTH", stored!.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("(redacted)", stored.Body, StringComparison.Ordinal);
        Assert.Contains("EUR", stored.Body, StringComparison.Ordinal);
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
    }

    [Fact]
    public async Task A_read_only_user_sees_no_control_to_change_and_an_operator_sees_them()
    {
        await using var host = DashboardHost.WithPolicies();
        var id = (await host.FailedOrdersAsync(1))[0];
        var viewer = await host.ClientAsync("vera", "viewer");
        var operatorClient = await host.ClientAsync("otto", AllRoles);
        string[] controls = ["data-test=\"edit-body\"", "data-test=\"save-edit\"", "data-test=\"resubmit\"", "data-test=\"discard\""];

        var readOnly = await viewer.GetStringAsync($"{Pages}/messages/{id}");
        var full = await operatorClient.GetStringAsync($"{Pages}/messages/{id}");
        var readOnlyList = await viewer.GetStringAsync($"{Pages}/messages");
        var fullList = await operatorClient.GetStringAsync($"{Pages}/messages");

        foreach (var control in controls)
        {
            Assert.DoesNotContain(control, readOnly, StringComparison.Ordinal);
            Assert.Contains(control, full, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("data-test=\"action-notice\"", full, StringComparison.Ordinal);
        Assert.Contains("data-test=\"action-notice\">Resubmitted to its source queue.<", await operatorClient.GetStringAsync($"{Pages}/messages/{id}?done=resubmit"), StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"action-notice\"", await operatorClient.GetStringAsync($"{Pages}/messages/{id}?done=%3Cscript%3E"), StringComparison.Ordinal);
        Assert.DoesNotContain("data-test=\"bulk-retry\"", readOnlyList, StringComparison.Ordinal);
        Assert.Contains("data-test=\"bulk-retry\"", fullList, StringComparison.Ordinal);
        Assert.Contains("data-test=\"message-row\"", readOnlyList, StringComparison.Ordinal);
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
    }

    [Fact]
    public async Task The_pages_render_counts_filters_groups_and_the_embedded_assets()
    {
        await using var host = DashboardHost.WithPolicies();
        var ids = await host.FailedOrdersAsync(2);
        var alice = await host.ClientAsync("alice", AllRoles);

        var overview = await alice.GetStringAsync(Pages + "/");
        Assert.Contains("data-test=\"state-count-AwaitingPerson\"", overview, StringComparison.Ordinal);
        Assert.Matches("data-test=\"state-count-AwaitingPerson\"[^>]*><span class=\"label\">AwaitingPerson</span><span class=\"value\" data-test=\"state-count-value\">2<", overview);
        var filtered = await alice.GetStringAsync(Pages + "/messages?exceptionType=" + typeof(InvalidOrderException).FullName);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(filtered, "data-test=\"message-row\"").Count);
        var none = await alice.GetStringAsync(Pages + "/messages?exceptionType=System.TimeoutException");
        Assert.DoesNotContain("data-test=\"message-row\"", none, StringComparison.Ordinal);
        var groups = await alice.GetStringAsync(Pages + "/groups?state=AwaitingPerson");
        Assert.Contains("data-test=\"group-row\"", groups, StringComparison.Ordinal);
        Assert.Contains("data-test=\"group-retry\"", groups, StringComparison.Ordinal);
        var script = await alice.GetAsync(Pages + "/assets/dashboard.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
        Assert.Contains("patterns-antiforgery", await script.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync(Pages + "/assets/dashboard.css")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync(Pages + "/assets/favicon.svg")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await alice.GetAsync(Pages + "/assets/other.js")).StatusCode);
        await host.AssertAccountedAsync(ids.ToDictionary(id => id, _ => "AwaitingPerson"), ids.ToDictionary(id => id, _ => 0));
    }
}
