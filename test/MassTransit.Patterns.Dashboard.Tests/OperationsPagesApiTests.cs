using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Dashboard.TestHost;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Patterns.Watch;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests
{
    using OperationsPagesApi;

    /// <summary>
    /// The thread delegate, contextual queues and watch operations pages through the API, in a small app of their own: the
    /// release action's outcomes (done, not held, invalid), its refusals (no operate policy: 403; no antiforgery token: 400),
    /// the audit, and each page's JSON read from the running components.
    /// </summary>
    public sealed class OperationsPagesApiTests
    {
        const string Prefix = "/patterns";
        const string Queue = "api-ops-ledger";
        static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

        static async Task<WebApplication> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseTestServer();
            var control = new ThreadDelegateControl();
            builder.Services.AddSingleton(control); // what the page reads: the control the endpoint uses
            builder.Services.AddSingleton<Ledger>();
            builder.Services.AddContextualQueues<Export>();
            builder.Services.AddMassTransit(x =>
            {
                x.AddConsumer<PostingConsumer>().Endpoint(e => e.Name = Queue);
                x.AddConsumer<ErrorQueueConsumer>().Endpoint(e =>
                {
                    e.Name = Queue + "_error";
                    e.ConfigureConsumeTopology = false;
                });
                x.AddConsumer<ExportConsumer>().ExcludeFromConfigureEndpoints();
                x.AddWatchSource<Setting>(o => o.Name = "api-ops-settings");
                x.AddConfigureEndpointsCallback((context, name, cfg) =>
                {
                    if (name == Queue)
                        cfg.UseThreadDelegate(context, o =>
                        {
                            o.Key<Posting>(m => m.Account);
                            o.Workers = 3;
                            o.FailedKey = FailedKeyBehavior.Hold;
                            o.Control = control;
                        });
                });
                x.UsingInMemory((context, cfg) =>
                {
                    cfg.UseContextualQueues<Export>(context, q => q.DefaultQueue("api-ops-exports").Context(m => m.Tenant)
                        .Endpoint(e => e.ConfigureConsumer<ExportConsumer>(context)));
                    cfg.ConfigureEndpoints(context);
                });
            });
            builder.Services.AddAuthentication(TestAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, TestAuthenticationHandler>(TestAuthenticationHandler.SchemeName, _ => { });
            builder.Services.AddAuthorization(o => o.AddPolicy("operate", p => p.RequireRole("operator")));
            builder.Services.AddPatternsDashboard(o => o.Policies.Operate = "operate");
            var app = builder.Build();
            app.UseAuthentication();
            app.UseAuthorization();
            app.MapPatternsDashboard(Prefix);
            await app.StartAsync();
            return app;
        }

        static Task<HttpClient> ClientAsync(WebApplication app, string user, string roles, bool antiforgery = true) =>
            SignedInClient.CreateAsync(app, Prefix, user, roles, antiforgery);

        static Task<HttpResponseMessage> ReleaseAsync(HttpClient client, object body) =>
            client.PostAsync(Prefix + "/api/ops/thread-delegate/release", JsonContent.Create(body));

        [Fact]
        public async Task Releasing_a_held_key_is_audited_refused_without_the_policy_or_token_and_its_messages_flow_again()
        {
            await using var app = await StartAsync();
            var control = app.Services.GetRequiredService<ThreadDelegateControl>();
            var ledger = app.Services.GetRequiredService<Ledger>();
            var endpoint = await app.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"queue:{Queue}"));
            var failed = NewId.NextGuid();
            await endpoint.Send(new Posting("k1", Fail: true), c => c.MessageId = failed);
            await Eventually.True(() => control.HeldKeys.Any(h => h.Key == "k1"), Deadline, "k1 is held after its failed posting");
            Assert.Equal(failed, Assert.Single(control.HeldKeys).FailedMessageId);

            var operatorClient = await ClientAsync(app, "olivia", "operator");
            var viewer = await ClientAsync(app, "victor", "viewer");
            var forger = await ClientAsync(app, "olivia", "operator", antiforgery: false);

            var json = await operatorClient.GetFromJsonAsync<JsonObject>(Prefix + "/api/ops/thread-delegate");
            var row = json!["endpoints"]!.AsArray().Single(e => (string?)e!["name"] == Queue)!;
            Assert.Equal(3, (int)row["lanes"]!);
            Assert.Equal(1, (int)row["keysHeld"]!);
            var heldJson = json["heldKeys"]!.AsArray().Single()!;
            Assert.Equal(("k1", failed.ToString()), ((string)heldJson["key"]!, (string)heldJson["failedMessageId"]!));

            Assert.Equal(HttpStatusCode.Forbidden, (await ReleaseAsync(viewer, new { endpoint = Queue, key = "k1" })).StatusCode);
            Assert.Equal(HttpStatusCode.BadRequest, (await ReleaseAsync(forger, new { endpoint = Queue, key = "k1" })).StatusCode);
            Assert.Contains(control.HeldKeys, h => h.Key == "k1");
            Assert.Equal(HttpStatusCode.NotFound, (await ReleaseAsync(operatorClient, new { endpoint = Queue, key = "k2" })).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await ReleaseAsync(operatorClient, new { endpoint = "another-queue", key = "k1" })).StatusCode);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, (await ReleaseAsync(operatorClient, new { key = "k1" })).StatusCode);
            Assert.Contains(control.HeldKeys, h => h.Key == "k1");

            var released = await ReleaseAsync(operatorClient, new { endpoint = Queue, key = "k1" });
            Assert.Equal(HttpStatusCode.OK, released.StatusCode);
            Assert.Empty(control.HeldKeys);
            Assert.Equal(HttpStatusCode.NotFound, (await ReleaseAsync(operatorClient, new { endpoint = Queue, key = "k1" })).StatusCode);

            // Every action that reached the page is audited with its actor, target and status; the refused ones never reached it.
            var audit = (await operatorClient.GetFromJsonAsync<JsonArray>(Prefix + "/api/ops/audit"))!;
            Assert.Equal([404, 200, 422, 404, 404], audit.Select(e => (int)e!["status"]!));
            Assert.All(audit, e => Assert.Equal("olivia", (string)e!["actor"]!));
            Assert.Equal(Queue + "/k1", (string)audit[1]!["target"]!);

            // The key's messages flow again: the failed one in the error queue, the next one consumed.
            var next = NewId.NextGuid();
            await endpoint.Send(new Posting("k1"), c => c.MessageId = next);
            await Eventually.True(() => ledger.Consumed.ContainsKey(next), Deadline, "k1's next posting is consumed");
            await Eventually.True(() => ledger.InErrorQueue.ContainsKey(failed), Deadline, "the failed posting is in the error queue");
            Assert.Equal([next], ledger.Consumed.Keys);
            Assert.Equal([failed], ledger.InErrorQueue.Keys);
            await app.StopAsync();
        }

        [Fact]
        public async Task The_contextual_and_watch_pages_read_their_components()
        {
            await using var app = await StartAsync();
            var client = await ClientAsync(app, "victor", "viewer");
            var routing = app.Services.GetRequiredService<ContextualRouting<Export>>();
            var bus = app.Services.GetRequiredService<IBus>();
            var exports = await bus.GetSendEndpoint(routing.RouterAddress);
            await exports.Send(new Export("acme"));
            Assert.True(await routing.WaitForQueueAsync("acme", Deadline), "acme gets a queue");
            await exports.Send(new Export("acme"));
            await Eventually.True(() => routing.Queues.Single().Consumed == 1 && routing.DefaultConsumed == 1, Deadline, "one consumed on each queue");

            var contextual = await client.GetFromJsonAsync<JsonObject>(Prefix + "/api/ops/contextual");
            var r = contextual!["routings"]!.AsArray().Single()!;
            Assert.Equal((nameof(Export), "api-ops-exports", 1, 1L), ((string)r["messageType"]!, (string)r["defaultQueue"]!, (int)r["contextQueues"]!, (long)r["defaultConsumed"]!));
            var queue = r["queues"]!.AsArray().Single()!;
            Assert.Equal((routing.Options.QueueNameOf("acme"), "Active", 1L), ((string)queue["name"]!, (string)queue["state"]!, (long)queue["consumed"]!));
            Assert.Equal(["acme"], queue["contexts"]!.AsArray().Select(c => (string)c!));

            var source = app.Services.GetRequiredService<IWatchSource<Setting>>();
            await source.Set("a", new Setting(1));
            await source.Set("a", new Setting(2));
            await source.Set("b", new Setting(3));
            var watch = await client.GetFromJsonAsync<JsonObject>(Prefix + "/api/ops/watch");
            var s = watch!["sources"]!.AsArray().Single()!;
            Assert.Equal("api-ops-settings", (string)s["name"]!);
            Assert.Equal([("a", 2L), ("b", 1L)], s["keys"]!.AsArray().Select(k => ((string)k!["key"]!, (long)k["version"]!)));
            Assert.Equal(0L, (long)s["prunedExpired"]!);

            var pages = await client.GetFromJsonAsync<JsonArray>(Prefix + "/api/ops");
            Assert.Equal(["thread-delegate", "contextual", "watch"], pages!.Select(p => (string)p!["slug"]!));
            await app.StopAsync();
        }
    }
}

namespace MassTransit.Patterns.Dashboard.Tests.OperationsPagesApi
{
    public sealed record Posting(string Account, bool Fail = false);

    public sealed record Export(string? Tenant);

    public sealed record Setting(int Value);

    public sealed class Ledger
    {
        public ConcurrentDictionary<Guid, Posting> Consumed { get; } = new();

        public ConcurrentDictionary<Guid, Posting> InErrorQueue { get; } = new();
    }

    public sealed class PostingConsumer(Ledger ledger) : IConsumer<Posting>
    {
        public Task Consume(ConsumeContext<Posting> context)
        {
            if (context.Message.Fail)
                throw new InvalidOperationException("refused posting");
            ledger.Consumed[context.MessageId!.Value] = context.Message;
            return Task.CompletedTask;
        }
    }

    public sealed class ErrorQueueConsumer(Ledger ledger) : IConsumer<Posting>
    {
        public Task Consume(ConsumeContext<Posting> context)
        {
            ledger.InErrorQueue[context.MessageId!.Value] = context.Message;
            return Task.CompletedTask;
        }
    }

    public sealed class ExportConsumer : IConsumer<Export>
    {
        public Task Consume(ConsumeContext<Export> context) => Task.CompletedTask;
    }
}
