using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MassTransit.Patterns.Dashboard.TestHost;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>
/// The console's JSON API over real commands: the workflow processor applies each change, on the in-memory saga repository
/// (the store over it) or, where a test takes a store, also on our EF Core repository with the EF Core store on SQLite.
/// </summary>
public sealed class DashboardApiTests
{
    const string Api = DashboardHost.Prefix + "/api";
    static readonly string AllRoles = "viewer,editor,resubmitter,discarder";

    static async Task<JsonObject> GetJsonAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<JsonObject>(DashboardHost.Json))!;
    }

    static Task<HttpResponseMessage> PostAsync(HttpClient client, string url, object body) => client.PostAsJsonAsync(url, body, DashboardHost.Json);

    static async Task<string> BodyOf(HttpResponseMessage response) => $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";

    /// <summary>The stored body with the order's currency set (a person's fix).</summary>
    static string Fixed(JsonObject view, string currency = "EUR")
    {
        var root = JsonNode.Parse((string)view["body"]!)!.AsObject();
        root["message"]!["currency"] = currency;
        return root.ToJsonString();
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("sqlite")]
    public async Task Every_action_works_and_is_recorded_with_the_signed_in_user(string store)
    {
        await using var host = DashboardHost.WithPolicies(("Store", store));
        var ids = await host.FailedOrdersAsync(3);
        var (fix, discard, untouched) = (ids[0], ids[1], ids[2]);
        var alice = await host.ClientAsync("alice", AllRoles);

        // Reads: counts, list (filtered, sorted, paged), groups, one message.
        var counts = await GetJsonAsync(alice, Api + "/counts");
        Assert.Equal(3, (long)counts["states"]!["AwaitingPerson"]!);
        var list = await GetJsonAsync(alice, Api + "/messages?state=AwaitingPerson&exceptionType=" + typeof(InvalidOrderException).FullName + "&sort=ReceivedAt&desc=false&pageSize=2&page=2");
        Assert.Equal(3, (long)list["total"]!);
        var all = (await GetJsonAsync(alice, Api + "/messages?sort=ReceivedAt&desc=false"))["items"]!.AsArray();
        Assert.Equal(ids.Order(), all.Select(m => (Guid)m!["correlationId"]!).Order());
        Assert.Equal((Guid)all[2]!["correlationId"]!, (Guid)Assert.Single(list["items"]!.AsArray())!["correlationId"]!);
        var search = await GetJsonAsync(alice, Api + "/messages?q=currency%20missing");
        Assert.Equal(3, (long)search["total"]!);
        var groups = (await alice.GetFromJsonAsync<JsonArray>(Api + "/groups?state=AwaitingPerson&by=exception", DashboardHost.Json))!;
        Assert.Equal(3, (long)Assert.Single(groups)!["count"]!);
        var bySource = (await alice.GetFromJsonAsync<JsonArray>(Api + "/groups?by=source", DashboardHost.Json))!;
        Assert.EndsWith("/orders", (string)Assert.Single(bySource)!["sourceAddress"]!, StringComparison.Ordinal);
        var view = await GetJsonAsync(alice, Api + "/messages/" + fix);
        Assert.Equal("AwaitingPerson", (string)view["summary"]!["state"]!);
        Assert.Contains("currency missing", (string)view["exceptionDetail"]!, StringComparison.Ordinal);
        Assert.Contains("\n", (string)view["prettyBody"]!, StringComparison.Ordinal);

        // Edit, then resubmit: processed once, Completed.
        var edit = await PostAsync(alice, $"{Api}/messages/{fix}/edit", new { body = Fixed(view), expectedVersion = (int)view["version"]!, comment = "customer confirmed EUR" });
        Assert.True(edit.IsSuccessStatusCode, await BodyOf(edit));
        var resubmit = await PostAsync(alice, $"{Api}/messages/{fix}/resubmit", new { reason = "fixed" });
        Assert.True(resubmit.IsSuccessStatusCode, await BodyOf(resubmit));
        var completed = await host.WaitForStateAsync(fix, "Completed", "the fixed order is processed");
        Assert.Contains(completed.Audit, a => a.Actor == "person:alice" && a.Action.Contains("edit", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(completed.Audit, a => a.Actor == "person:alice" && a.Action.Contains("resubmit", StringComparison.OrdinalIgnoreCase));

        // Discard (reason required), then restore: it waits for a person again.
        var noReason = await PostAsync(alice, $"{Api}/messages/{discard}/discard", new { });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noReason.StatusCode);
        var discarded = await PostAsync(alice, $"{Api}/messages/{discard}/discard", new { reason = "duplicate" });
        Assert.True(discarded.IsSuccessStatusCode, await BodyOf(discarded));
        await host.WaitForStateAsync(discard, "Discarded", "discarded by alice");
        var restore = await PostAsync(alice, $"{Api}/messages/{discard}/restore", new { reason = "not a duplicate after all" });
        Assert.True(restore.IsSuccessStatusCode, await BodyOf(restore));
        var restored = await host.WaitForStateAsync(discard, "AwaitingPerson", "restored by alice");
        Assert.Contains(restored.Audit, a => a.Actor == "person:alice" && a.Detail?.Contains("duplicate", StringComparison.Ordinal) == true);

        // A command in the wrong state is refused with 409: resubmit of a completed message.
        var wrong = await PostAsync(alice, $"{Api}/messages/{fix}/resubmit", new { });
        Assert.Equal(HttpStatusCode.Conflict, wrong.StatusCode);
        var unknown = await PostAsync(alice, $"{Api}/messages/{Guid.NewGuid()}/resubmit", new { });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        // Where every message ended: fixed one Completed and processed once; the others wait, never processed.
        await host.AssertAccountedAsync(
            new Dictionary<Guid, string> { [fix] = "Completed", [discard] = "AwaitingPerson", [untouched] = "AwaitingPerson" },
            new Dictionary<Guid, int> { [fix] = 1, [discard] = 0, [untouched] = 0 });
    }

    [Fact]
    public async Task Each_action_is_refused_with_403_for_a_signed_in_user_without_its_policy_and_401_for_an_anonymous_one()
    {
        await using var host = DashboardHost.WithPolicies();
        var ids = await host.FailedOrdersAsync(1);
        var id = ids[0];
        var before = await host.FindAsync(id);
        var admin = await host.ClientAsync("admin", AllRoles);
        var view = await GetJsonAsync(admin, Api + "/messages/" + id);

        var viewer = await host.ClientAsync("vera", "viewer");
        var forbidden = new (string Url, object Body)[]
        {
            ($"{Api}/messages/{id}/edit", new { body = Fixed(view), expectedVersion = (int)view["version"]! }),
            ($"{Api}/messages/{id}/resubmit", new { }),
            ($"{Api}/messages/{id}/discard", new { reason = "no" }),
            ($"{Api}/messages/{id}/restore", new { }),
            ($"{Api}/bulk", new { action = "retry", ids = new[] { id } }),
            ($"{Api}/bulk", new { action = "discard", ids = new[] { id }, reason = "no" }),
        };
        foreach (var (url, body) in forbidden)
        {
            var response = await PostAsync(viewer, url, body);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{url} as a viewer: {await BodyOf(response)}");
        }
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync(Api + "/messages/" + id)).StatusCode);

        // Each role only what it names: an editor cannot resubmit, a resubmitter cannot discard or edit.
        var editor = await host.ClientAsync("ed", "editor");
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(editor, $"{Api}/messages/{id}/resubmit", new { })).StatusCode);
        var resubmitter = await host.ClientAsync("rey", "resubmitter");
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(resubmitter, $"{Api}/messages/{id}/discard", new { reason = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(resubmitter, $"{Api}/messages/{id}/edit", new { body = "{}", expectedVersion = 0 })).StatusCode);

        // Reads need the view policy: a signed-in user without it gets 403, an anonymous one 401.
        var nobody = await host.ClientAsync("nora", "", antiforgery: false);
        foreach (var url in new[] { Api + "/counts", Api + "/messages", Api + "/groups", Api + "/messages/" + id, DashboardHost.Prefix + "/", DashboardHost.Prefix + "/messages/" + id })
            Assert.True((await nobody.GetAsync(url)).StatusCode == HttpStatusCode.Forbidden, url);
        var anonymous = await host.ClientAsync(null, antiforgery: false);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(Api + "/messages")).StatusCode);

        // Nothing changed: the message waits, at the same version, never processed.
        var after = await host.FindAsync(id);
        Assert.Equal(before!.Version, after!.Version);
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("sqlite")]
    public async Task An_edit_made_on_a_stale_version_is_refused_with_409_and_says_so(string store)
    {
        await using var host = DashboardHost.WithPolicies(("Store", store));
        var id = (await host.FailedOrdersAsync(1))[0];
        var alice = await host.ClientAsync("alice", AllRoles);
        var bob = await host.ClientAsync("bob", AllRoles);
        var read = await GetJsonAsync(alice, Api + "/messages/" + id);

        var first = await PostAsync(bob, $"{Api}/messages/{id}/edit", new { body = Fixed(read, "USD"), expectedVersion = (int)read["version"]! });
        Assert.True(first.IsSuccessStatusCode, await BodyOf(first));
        var stale = await PostAsync(alice, $"{Api}/messages/{id}/edit", new { body = Fixed(read, "EUR"), expectedVersion = (int)read["version"]! });

        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
        var answer = (await stale.Content.ReadFromJsonAsync<JsonObject>(DashboardHost.Json))!;
        Assert.Equal("Stale", (string)answer["refusal"]!);
        Assert.Contains("changed since you read it", (string)answer["reason"]!, StringComparison.Ordinal);
        // Bob's edit stands; alice's was not applied.
        var details = await host.FindAsync(id);
        Assert.Contains("USD", details!.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("EUR", details.Body, StringComparison.Ordinal);
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
    }

    [Fact]
    public async Task A_body_that_is_not_json_or_not_the_message_type_is_refused_with_the_reason_and_an_oversized_one_with_413()
    {
        await using var host = DashboardHost.WithPolicies(("MaxBodyBytes", "2048"));
        var id = (await host.FailedOrdersAsync(1))[0];
        var alice = await host.ClientAsync("alice", AllRoles);
        var read = await GetJsonAsync(alice, Api + "/messages/" + id);
        var version = (int)read["version"]!;
        var before = await host.FindAsync(id);

        var invalid = await PostAsync(alice, $"{Api}/messages/{id}/edit", new { body = "{\"message\": {\"currency\": \"EUR\"", expectedVersion = version });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.StatusCode);
        var answer = (await invalid.Content.ReadFromJsonAsync<JsonObject>(DashboardHost.Json))!;
        Assert.Equal("Invalid", (string)answer["refusal"]!);
        Assert.Contains("not valid JSON", (string)answer["reason"]!, StringComparison.Ordinal);

        // JSON, but not a PlaceOrder: the processor refuses it with its reason.
        var wrongType = JsonNode.Parse((string)read["body"]!)!.AsObject();
        wrongType["message"]!["quantity"] = "many";
        var notAnOrder = await PostAsync(alice, $"{Api}/messages/{id}/edit", new { body = wrongType.ToJsonString(), expectedVersion = version });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, notAnOrder.StatusCode);
        var refusal = (await notAnOrder.Content.ReadFromJsonAsync<JsonObject>(DashboardHost.Json))!;
        Assert.Equal("Invalid", (string)refusal["refusal"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)refusal["reason"]), refusal.ToJsonString());

        var noVersion = await PostAsync(alice, $"{Api}/messages/{id}/edit", new { body = Fixed(read) });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noVersion.StatusCode);
        Assert.Contains("expectedVersion is required", await noVersion.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var large = await PostAsync(alice, $"{Api}/messages/{id}/edit", new { body = Fixed(read, new string('x', 4096)), expectedVersion = version });
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
        Assert.Contains("MaxBodyBytes", await large.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Nothing changed: the body is the one received.
        var after = await host.FindAsync(id);
        Assert.Equal(before!.Body, after!.Body);
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
    }

    [Fact]
    public async Task A_change_without_the_antiforgery_token_is_refused()
    {
        await using var host = DashboardHost.WithPolicies();
        var id = (await host.FailedOrdersAsync(1))[0];
        var forger = await host.ClientAsync("alice", AllRoles, antiforgery: false);

        foreach (var (url, body) in new (string, object)[]
                 {
                     ($"{Api}/messages/{id}/resubmit", new { }), ($"{Api}/messages/{id}/discard", new { reason = "forged" }),
                     ($"{Api}/bulk", new { action = "retry", ids = new[] { id } })
                 })
        {
            var response = await PostAsync(forger, url, body);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{url}: {await BodyOf(response)}");
            Assert.Contains("antiforgery", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
    }

    [Fact]
    public async Task The_actor_is_the_configured_name_only_when_authentication_is_off()
    {
        // Authentication off, ActorWhenAnonymous set: changes are recorded with it.
        await using (var host = new DashboardHost(("ActorWhenAnonymous", "ops-console")))
        {
            var id = (await host.FailedOrdersAsync(1))[0];
            var client = await host.ClientAsync(null);
            var response = await PostAsync(client, $"{Api}/messages/{id}/discard", new { reason = "test data" });
            Assert.True(response.IsSuccessStatusCode, await BodyOf(response));
            var details = await host.WaitForStateAsync(id, "Discarded", "discarded by the configured actor");
            Assert.Contains(details.Audit, a => a.Actor == "person:ops-console");
            await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "Discarded" }, new Dictionary<Guid, int> { [id] = 0 });
        }

        // Authentication off, no ActorWhenAnonymous: nobody could be named, so the change is refused.
        await using (var host = new DashboardHost())
        {
            var id = (await host.FailedOrdersAsync(1))[0];
            var client = await host.ClientAsync(null);
            var response = await PostAsync(client, $"{Api}/messages/{id}/discard", new { reason = "test data" });
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("ActorWhenAnonymous", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "AwaitingPerson" }, new Dictionary<Guid, int> { [id] = 0 });
        }

        // Authentication on: an anonymous change is refused even with ActorWhenAnonymous set; a signed-in user is named.
        await using (var host = DashboardHost.WithPolicies(("Policies", "off"), ("ActorWhenAnonymous", "ops-console")))
        {
            var id = (await host.FailedOrdersAsync(1))[0];
            var anonymous = await host.ClientAsync(null);
            var refused = await PostAsync(anonymous, $"{Api}/messages/{id}/discard", new { reason = "test data" });
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("Sign in", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var carol = await host.ClientAsync("carol");
            var accepted = await PostAsync(carol, $"{Api}/messages/{id}/discard", new { reason = "test data" });
            Assert.True(accepted.IsSuccessStatusCode, await BodyOf(accepted));
            var details = await host.WaitForStateAsync(id, "Discarded", "discarded by carol");
            Assert.Contains(details.Audit, a => a.Actor == "person:carol");
            Assert.DoesNotContain(details.Audit, a => a.Actor == "person:ops-console");
            await host.AssertAccountedAsync(new Dictionary<Guid, string> { [id] = "Discarded" }, new Dictionary<Guid, int> { [id] = 0 });
        }
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("sqlite")]
    public async Task A_bulk_retry_of_a_group_completes_every_member_once_paced_with_progress_reaching_the_total(string store)
    {
        const int members = 6;
        const double rate = 10;
        await using var host = DashboardHost.WithPolicies(("Store", store), ("BulkRatePerSecond", "10"));
        var group = await host.FailedOrdersAsync(members);
        var others = await host.FailedOrdersAsync(2);
        var alice = await host.ClientAsync("alice", AllRoles);
        var bulkDiscard = await PostAsync(alice, Api + "/bulk", new { action = "discard", ids = others, reason = "test orders" });
        Assert.Equal(HttpStatusCode.Accepted, bulkDiscard.StatusCode);
        foreach (var id in others)
            await host.WaitForStateAsync(id, "Discarded", "discarded in bulk");

        // The downstream fault is fixed; retry the group of waiting orders.
        host.Ledger.AcceptAll = true;
        var groups = (await alice.GetFromJsonAsync<JsonArray>(Api + "/groups?state=AwaitingPerson&by=exception", DashboardHost.Json))!;
        var row = Assert.Single(groups)!;
        Assert.Equal(members, (long)row["count"]!);
        var filter = new { state = "AwaitingPerson", exceptionType = (string?)row["exceptionType"], messageType = (string?)row["messageType"] };
        var started = await PostAsync(alice, Api + "/bulk", new { action = "retry", filter });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var job = (await started.Content.ReadFromJsonAsync<JsonObject>(DashboardHost.Json))!;
        Assert.Equal(members, (int)job["total"]!);
        var jobId = (Guid)job["jobId"]!;

        JsonObject status = job;
        var seenDone = new List<int>();
        await Eventually.True(async () =>
        {
            status = await GetJsonAsync(alice, $"{Api}/bulk/{jobId}");
            seenDone.Add((int)status["done"]!);
            return (string)status["state"]! != "Running";
        }, TimeSpan.FromSeconds(30), "the bulk job finishes", TimeSpan.FromMilliseconds(50));

        Assert.Equal("Completed", (string)status["state"]!);
        Assert.Equal(members, (int)status["done"]!);
        Assert.Equal(members, (int)status["succeeded"]!);
        Assert.Equal(0, (int)status["refusedCount"]!);
        // Never all at once: paced at the rate, progress seen below the total on the way.
        var took = (DateTimeOffset)status["finishedAt"]! - (DateTimeOffset)status["startedAt"]!;
        Assert.True(took >= TimeSpan.FromSeconds((members - 1) / rate) - TimeSpan.FromMilliseconds(20), $"{members} messages at {rate}/s took {took}");
        Assert.Contains(seenDone, d => d < members);
        Assert.Equal(seenDone.Order(), seenDone);

        foreach (var id in group)
            await host.WaitForStateAsync(id, "Completed", "each member of the group completes");
        var expectedStates = group.ToDictionary(id => id, _ => "Completed");
        foreach (var id in others)
            expectedStates[id] = "Discarded";
        await host.AssertAccountedAsync(expectedStates, group.Concat(others).ToDictionary(id => id, id => group.Contains(id) ? 1 : 0));
    }

    [Fact]
    public async Task A_bulk_job_can_be_cancelled_before_it_reaches_every_message()
    {
        await using var host = DashboardHost.WithPolicies(("BulkRatePerSecond", "2"));
        var ids = await host.FailedOrdersAsync(5);
        var alice = await host.ClientAsync("alice", AllRoles);
        var started = await PostAsync(alice, Api + "/bulk", new { action = "discard", ids, reason = "cleanup" });
        var jobId = (Guid)(await started.Content.ReadFromJsonAsync<JsonObject>(DashboardHost.Json))!["jobId"]!;
        await Eventually.True(async () => (int)(await GetJsonAsync(alice, $"{Api}/bulk/{jobId}"))["done"]! >= 1, TimeSpan.FromSeconds(10), "the first discard is made");
        var cancel = await PostAsync(alice, $"{Api}/bulk/{jobId}/cancel", new { });
        Assert.True(cancel.IsSuccessStatusCode, await BodyOf(cancel));
        JsonObject status = [];
        await Eventually.True(async () => (string)(status = await GetJsonAsync(alice, $"{Api}/bulk/{jobId}"))["state"]! == "Cancelled", TimeSpan.FromSeconds(10),
            "the job stops");
        var done = (int)status["done"]!;
        Assert.InRange(done, 1, 4);

        // The first `done` messages were discarded, the rest still wait.
        for (var i = 0; i < done; i++)
            await host.WaitForStateAsync(ids[i], "Discarded", "discarded before the cancel");
        await host.AssertAccountedAsync(ids.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i < done ? "Discarded" : "AwaitingPerson"),
            ids.ToDictionary(id => id, _ => 0));
    }

    [Fact]
    public async Task A_bulk_action_covers_at_most_MaxBulkSize_messages_oldest_first_and_says_when_the_group_was_larger()
    {
        await using var host = DashboardHost.WithPolicies(("MaxBulkSize", "2"), ("BulkRatePerSecond", "50"));
        var ids = await host.FailedOrdersAsync(3);
        var alice = await host.ClientAsync("alice", AllRoles);

        var tooMany = await PostAsync(alice, Api + "/bulk", new { action = "discard", ids, reason = "cleanup" });
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Contains("MaxBulkSize", await tooMany.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var oldestFirst = (await GetJsonAsync(alice, Api + "/messages?sort=ReceivedAt&desc=false"))["items"]!.AsArray();
        var started = await PostAsync(alice, Api + "/bulk", new { action = "discard", filter = new { state = "AwaitingPerson" }, reason = "cleanup" });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var job = (await started.Content.ReadFromJsonAsync<JsonObject>(DashboardHost.Json))!;
        Assert.Equal(2, (int)job["total"]!);
        Assert.True((bool)job["truncated"]!);
        var jobId = (Guid)job["jobId"]!;
        await Eventually.True(async () => (string)(await GetJsonAsync(alice, $"{Api}/bulk/{jobId}"))["state"]! == "Completed", TimeSpan.FromSeconds(10), "the job ends");

        // The two first received were discarded (received order, as the store gives it, not send order), the last still waits.
        var received = oldestFirst.Select(m => (Guid)m!["correlationId"]!).ToList();
        await host.WaitForStateAsync(received[0], "Discarded", "oldest first");
        await host.WaitForStateAsync(received[1], "Discarded", "oldest first");
        await host.AssertAccountedAsync(new Dictionary<Guid, string> { [received[0]] = "Discarded", [received[1]] = "Discarded", [received[2]] = "AwaitingPerson" },
            ids.ToDictionary(id => id, _ => 0));
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_api()
    {
        await using var host = DashboardHost.WithPolicies();
        var viewer = await host.ClientAsync("vera", "viewer");
        var document = await viewer.GetStringAsync(Api + "/openapi/patterns-dashboard.json");
        foreach (var route in new[] { "/patterns/api/messages", "/patterns/api/groups", "/patterns/api/counts", "/patterns/api/messages/{id}/edit", "/patterns/api/bulk" })
            Assert.Contains("\"" + route + "\"", document, StringComparison.Ordinal);
        Assert.DoesNotContain("\"/patterns/messages\"", document, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await viewer.GetAsync(Api + "/openapi/v1.json")).StatusCode);
    }
}
