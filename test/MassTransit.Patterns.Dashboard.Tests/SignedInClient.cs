using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>
/// A test-server client signed in through the test authentication handler's headers, carrying the console's antiforgery
/// cookie and, when asked, its token header: from <c>api/antiforgery</c>, or from the operations page's meta tag as the
/// console's script reads it.
/// </summary>
static class SignedInClient
{
    public static async Task<HttpClient> CreateAsync(WebApplication app, string prefix, string user, string roles, bool antiforgery = true,
        bool tokenFromPage = false)
    {
        var client = app.GetTestClient();
        client.DefaultRequestHeaders.Add("X-Test-User", user);
        client.DefaultRequestHeaders.Add("X-Test-Roles", roles);
        var response = await client.GetAsync(prefix + (tokenFromPage ? "/ops" : "/api/antiforgery"));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.RequestMessage?.RequestUri}: {(int)response.StatusCode}");
        // The test server's client keeps no cookies: the antiforgery cookie goes back by hand.
        client.DefaultRequestHeaders.Add("Cookie", string.Join("; ", response.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
        if (!antiforgery)
            return client;
        if (tokenFromPage)
        {
            var meta = Regex.Match(await response.Content.ReadAsStringAsync(), "<meta name=\"patterns-antiforgery\" content=\"([^\"]*)\" data-header=\"([^\"]*)\">");
            Assert.True(meta.Success, "the page carries the antiforgery token");
            client.DefaultRequestHeaders.Add(WebUtility.HtmlDecode(meta.Groups[2].Value), WebUtility.HtmlDecode(meta.Groups[1].Value));
        }
        else
        {
            var token = await response.Content.ReadFromJsonAsync<JsonObject>();
            client.DefaultRequestHeaders.Add((string)token!["headerName"]!, (string)token["token"]!);
        }
        return client;
    }
}
