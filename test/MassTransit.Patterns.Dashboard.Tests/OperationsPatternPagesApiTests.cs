using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.Dashboard.TestHost;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>A task the tests' consumers take; they hold it until released.</summary>
public sealed record OpsWork(int Number, bool Urgent = false);

/// <summary>
/// The supervisor, producer control-flow and ambulance pages over small apps of their own: the JSON at api/ops/{slug}
/// is the component's state, the page renders those values, and a read-only user sees them without any action control.
/// </summary>
public sealed class OperationsPatternPagesApiTests
{
    const string Prefix = "/patterns";

    [Fact]
    public async Task The_supervisor_json_is_the_supervisors_state_its_bounded_history_and_decisions_and_the_page_renders_them()
    {
        const string queue = "ops-api-supervised";
        var work = new Work();
        await using var app = await StartAsync(work, services =>
        {
            services.AddSingleton(work);
            services.AddInMemoryQueueDepthProbe();
            services.AddConsumerSupervisorRegistry();
            services.AddMassTransit(x =>
            {
                x.AddConsumer<HeldConsumer>().Endpoint(e => e.Name = queue);
                x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                {
                    if (name == queue)
                        cfg.UseSupervisor(ctx, o =>
                        {
                            o.MinConsumers = 2;
                            o.MaxConsumers = 6;
                            o.MessagesPerConsumer = 10;
                            o.PollInterval = TimeSpan.FromMilliseconds(100);
                            o.TickHistorySize = 5;
                        });
                });
                x.UsingInMemory((ctx, cfg) => cfg.ConfigureEndpoints(ctx));
            });
        });
        var supervisor = app.Services.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue);

        // 50 held messages: the supervisor wants ceil(depth / 10) = 5 and holds there while nothing completes.
        var ids = await SendAsync(app, queue, Enumerable.Range(0, 50).Select(i => new OpsWork(i)));
        // Settled: the ring (5 looks) holds only looks at limit 5 that changed nothing, although more were taken.
        try
        {
            await Eventually.True(() => supervisor.Active == 5 && supervisor.Ticks > 10
                    && supervisor.RecentTicks is { Count: 5 } ring && ring.All(t => t.Limit == 5 && t.Direction == ScalingDirection.Hold),
                TimeSpan.FromSeconds(30), "the supervisor scales up to 5 for the held messages and holds");
        }
        catch (TimeoutException exception)
        {
            // What it did instead (seen once, at load average 33): each look's direction, limit, depth and active consumers.
            var looks = string.Join(", ", supervisor.RecentTicks.Select(t => $"{t.Direction} {t.PreviousLimit}->{t.Limit} depth {t.Depth} active {t.Active}"));
            throw new TimeoutException($"{exception.Message}; active {supervisor.Active}, ticks {supervisor.Ticks}, last looks: {looks}", exception);
        }
        var client = ReadOnlyClient(app);

        var json = await GetJsonAsync(client, "/api/ops/supervisor");
        var q = json.GetProperty("queues").EnumerateArray().Single();
        Assert.Equal(queue, q.GetProperty("queue").GetString());
        Assert.Equal(supervisor.Limit, q.GetProperty("limit").GetInt32());
        Assert.Equal(supervisor.Active, q.GetProperty("active").GetInt32());
        Assert.Equal(supervisor.ProbeFailures, q.GetProperty("probeFailures").GetInt64());
        Assert.Equal([2, 6], [q.GetProperty("minConsumers").GetInt32(), q.GetProperty("maxConsumers").GetInt32()]);
        // The history is the supervisor's own ring, bounded by TickHistorySize although more than 10 looks were taken.
        Assert.Equal(5, q.GetProperty("history").GetArrayLength());
        Assert.Equal(5, supervisor.RecentTicks.Count);
        Assert.All(q.GetProperty("history").EnumerateArray(), p => Assert.Equal(5, p.GetProperty("limit").GetInt32()));
        // The decisions are read from the ring: the scale-up has left it, every look since held.
        Assert.Equal(0, q.GetProperty("decisions").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, q.GetProperty("fleet").ValueKind);

        var html = await client.GetStringAsync(Prefix + "/ops/supervisor");
        Assert.Contains($"data-queue=\"{queue}\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"supervisor-limit\" data-value=\"5\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"supervisor-active\" data-value=\"5\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"supervisor-chart\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-ops-action", html, StringComparison.Ordinal);

        work.Release();
        await Eventually.True(() => ids.All(work.Consumed.ContainsKey), TimeSpan.FromSeconds(30), "every held message is consumed");
        Assert.Equal(50, work.Consumed.Count);
    }

    [Fact]
    public async Task The_supervisor_json_lists_a_scale_up_with_its_reason_while_the_ring_holds_it()
    {
        const string queue = "ops-api-decisions";
        var work = new Work();
        await using var app = await StartAsync(work, services =>
        {
            services.AddSingleton(work);
            services.AddInMemoryQueueDepthProbe();
            services.AddConsumerSupervisorRegistry();
            services.AddMassTransit(x =>
            {
                x.AddConsumer<HeldConsumer>().Endpoint(e => e.Name = queue);
                x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                {
                    if (name == queue)
                        cfg.UseSupervisor(ctx, o =>
                        {
                            o.MinConsumers = 1;
                            o.MaxConsumers = 4;
                            o.MessagesPerConsumer = 10;
                            o.PollInterval = TimeSpan.FromMilliseconds(100);
                        });
                });
                x.UsingInMemory((ctx, cfg) => cfg.ConfigureEndpoints(ctx));
            });
        });
        var supervisor = app.Services.GetRequiredService<ConsumerSupervisorRegistry>().Get(queue);
        var ids = await SendAsync(app, queue, Enumerable.Range(0, 30).Select(i => new OpsWork(i)));
        await Eventually.True(() => supervisor.Limit == 3, TimeSpan.FromSeconds(30), "the supervisor scales up to ceil(30 / 10) = 3");

        var json = await GetJsonAsync(ReadOnlyClient(app), "/api/ops/supervisor");
        var decisions = json.GetProperty("queues")[0].GetProperty("decisions").EnumerateArray().ToArray();
        var up = supervisor.RecentTicks.Where(t => t.Direction == ScalingDirection.Up).ToArray();
        Assert.Equal(up.Length, decisions.Length);
        var last = decisions[0]; // newest first
        Assert.Equal("Up", last.GetProperty("direction").GetString());
        Assert.Equal(up[^1].PreviousLimit, last.GetProperty("previousLimit").GetInt32());
        Assert.Equal(3, last.GetProperty("limit").GetInt32());
        Assert.Equal($"depth {up[^1].Depth} wanted {up[^1].Wanted}: limit {up[^1].PreviousLimit} -> 3", last.GetProperty("reason").GetString());

        work.Release();
        await Eventually.True(() => ids.All(work.Consumed.ContainsKey), TimeSpan.FromSeconds(30), "every held message is consumed");
        Assert.Equal(30, work.Consumed.Count);
    }

    [Fact]
    public async Task The_control_flow_json_is_the_monitors_and_stores_state_with_the_refused_producers_and_the_page_renders_it()
    {
        const string queue = "ops-api-watched";
        var work = new Work();
        await using var app = await StartAsync(work, services =>
        {
            services.AddSingleton(work);
            services.AddInMemoryQueueDepthProbe();
            services.AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(50));
            services.AddFlowMonitor(o =>
            {
                o.Watch(queue, highWatermark: 10, lowWatermark: 2, stopMark: 20);
                o.PublishToBus = false;
            });
            services.AddMassTransit(x =>
            {
                x.AddConsumer<HeldConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = 1;
                    e.PrefetchCount = 1;
                });
                x.UsingInMemory((ctx, cfg) =>
                {
                    cfg.UseProducerControlFlow(ctx, o => o.WhenSlow = SlowAction.Reject);
                    cfg.ConfigureEndpoints(ctx);
                });
            });
        });
        var store = app.Services.GetRequiredService<FlowControlStateStore>();
        var monitor = app.Services.GetRequiredService<FlowMonitor>();

        // 15 held messages pass the high watermark, below the stop mark (the last ones may already be refused, if the
        // monitor saw the depth pass the mark while they were being sent: counted).
        var (ids, refusedFirst) = await SendCountingRefusedAsync(app, queue, Enumerable.Range(0, 15).Select(i => new OpsWork(i)));
        await Eventually.True(() => store.Get(queue).State == FlowState.Slow, TimeSpan.FromSeconds(30), "the queue turns slow");
        // Three more are refused: the producer rejects while slow, and still has them.
        var endpoint = await app.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{queue}"));
        for (var i = 0; i < 3; i++)
            await Assert.ThrowsAsync<BackPressureException>(() => endpoint.Send(new OpsWork(100 + i)));

        var before = store.Get(queue);
        var json = await GetJsonAsync(ReadOnlyClient(app), "/api/ops/control-flow");
        var after = store.Get(queue);
        var q = json.GetProperty("queues").EnumerateArray().Single();
        var watched = monitor.Snapshot().Single();
        Assert.Equal(queue, q.GetProperty("queue").GetString());
        Assert.Equal("Slow", q.GetProperty("producerState").GetString());
        Assert.Equal("Slow", q.GetProperty("monitorState").GetString());
        Assert.Equal(FlowState.Slow, watched.State);
        Assert.Equal(watched.Depth, q.GetProperty("depth").GetInt64());
        Assert.Equal([10L, 2L, 20L], [q.GetProperty("highWatermark").GetInt64(), q.GetProperty("lowWatermark").GetInt64(), q.GetProperty("stopMark").GetInt64()]);
        // The monitor renews the lease on every poll (50 ms), so more than one renewal can fall within the request: the
        // page's lease is one the store held while it was read.
        var lease = q.GetProperty("leaseExpiresAt").GetDateTimeOffset();
        Assert.InRange(lease, before.Statement!.LeaseExpiresAt, after.Statement!.LeaseExpiresAt);
        Assert.Equal(refusedFirst + 3, q.GetProperty("rejected").GetInt64());
        Assert.Equal(store.Throttling(queue).Rejected, q.GetProperty("rejected").GetInt64());
        Assert.Equal(0, q.GetProperty("throttled").GetInt64());
        Assert.Equal(0, q.GetProperty("heldNow").GetInt32());

        var html = await ReadOnlyClient(app).GetStringAsync(Prefix + "/ops/control-flow");
        Assert.Contains($"data-queue=\"{queue}\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"control-flow-state\" data-value=\"Slow\"", html, StringComparison.Ordinal);
        Assert.Contains($"data-test=\"control-flow-rejected\" data-value=\"{refusedFirst + 3}\"", html, StringComparison.Ordinal);
        Assert.Contains("data-high=\"10\" data-low=\"2\" data-stop=\"20\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-ops-action", html, StringComparison.Ordinal);

        // Where each ended: those sent consumed, the refused ones stayed with the producer (never reached the queue).
        work.Release();
        await Eventually.True(() => ids.All(work.Consumed.ContainsKey), TimeSpan.FromSeconds(30), "every message sent is consumed");
        Assert.Equal(15 - refusedFirst, work.Consumed.Count);
        Assert.DoesNotContain(work.Consumed.Values, n => n >= 100);
    }

    [Fact]
    public async Task The_control_flow_json_counts_rate_limited_sends_as_throttled()
    {
        const string queue = "ops-api-throttled";
        var work = new Work();
        await using var app = await StartAsync(work, services =>
        {
            services.AddSingleton(work);
            services.AddInMemoryQueueDepthProbe();
            services.AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(50));
            services.AddFlowMonitor(o =>
            {
                o.Watch(queue, highWatermark: 10, lowWatermark: 2);
                o.PublishToBus = false;
            });
            services.AddMassTransit(x =>
            {
                x.AddConsumer<HeldConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = 1;
                    e.PrefetchCount = 1;
                });
                x.UsingInMemory((ctx, cfg) =>
                {
                    cfg.UseProducerControlFlow(ctx, o =>
                    {
                        o.WhenSlow = SlowAction.RateLimit;
                        o.SlowRatePerSecond = 50;
                    });
                    cfg.ConfigureEndpoints(ctx);
                });
            });
        });
        var store = app.Services.GetRequiredService<FlowControlStateStore>();
        var ids = await SendAsync(app, queue, Enumerable.Range(0, 15).Select(i => new OpsWork(i)));
        await Eventually.True(() => store.Get(queue).State == FlowState.Slow, TimeSpan.FromSeconds(30), "the queue turns slow");
        // Those of the 15 sent after the monitor saw the mark were throttled already: counted from here.
        var before = store.Throttling(queue).Throttled;
        ids.AddRange(await SendAsync(app, queue, Enumerable.Range(15, 4).Select(i => new OpsWork(i))));

        var json = await GetJsonAsync(ReadOnlyClient(app), "/api/ops/control-flow");
        var q = json.GetProperty("queues").EnumerateArray().Single();
        Assert.Equal(before + 4, q.GetProperty("throttled").GetInt64());
        Assert.Equal(store.Throttling(queue).Throttled, q.GetProperty("throttled").GetInt64());
        Assert.Equal(0, q.GetProperty("rejected").GetInt64());

        work.Release();
        await Eventually.True(() => ids.All(work.Consumed.ContainsKey), TimeSpan.FromSeconds(30), "every message is consumed");
        Assert.Equal(19, work.Consumed.Count);
    }

    [Fact]
    public async Task The_ambulance_json_is_the_lanes_state_with_its_urgent_wait_percentiles_and_the_page_renders_it()
    {
        const string queue = "ops-api-lane";
        var work = new Work();
        work.Release();
        await using var app = await StartAsync(work, services =>
        {
            services.AddSingleton(work);
            services.AddAmbulanceLaneRegistry();
            services.AddMassTransit(x =>
            {
                x.AddConsumer<HeldConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = 3;
                });
                x.UsingInMemory((ctx, cfg) =>
                {
                    cfg.UseAmbulanceLane(ctx, a =>
                    {
                        a.Urgent<OpsWork>(w => w.Urgent);
                        a.Endpoint(queue, lane => lane.ConcurrentMessageLimit = 2);
                    });
                    cfg.ConfigureEndpoints(ctx);
                });
            });
        });
        var registry = app.Services.GetRequiredService<AmbulanceLaneRegistry>();
        var ids = await SendAsync(app, queue, Enumerable.Range(0, 7).Select(i => new OpsWork(i, Urgent: true)).Concat(Enumerable.Range(7, 5).Select(i => new OpsWork(i))));
        await Eventually.True(() => ids.All(work.Consumed.ContainsKey) && registry.Snapshot().Single().LaneDepth == 0, TimeSpan.FromSeconds(30),
            "every message is consumed");
        Assert.Equal(12, work.Consumed.Count);
        Assert.Equal(7, work.ConsumedFromLane.Count); // the urgent ones, through the lane

        var lane = registry.Snapshot().Single();
        Assert.Equal(7, lane.UrgentWaitSamples);
        var json = await GetJsonAsync(ReadOnlyClient(app), "/api/ops/ambulance");
        var l = json.GetProperty("lanes").EnumerateArray().Single();
        Assert.Equal(queue, l.GetProperty("queue").GetString());
        Assert.Equal(queue + AmbulanceLaneOptions.DefaultSuffix, l.GetProperty("lane").GetString());
        Assert.Equal("Ambulance", l.GetProperty("mode").GetString());
        Assert.Equal([3, 2, 5], [l.GetProperty("queueSlots").GetInt32(), l.GetProperty("laneSlots").GetInt32(), l.GetProperty("slotBudget").GetInt32()]);
        Assert.Equal(0, l.GetProperty("laneDepth").GetInt32());
        Assert.Equal(7, l.GetProperty("urgentWaitSamples").GetInt32());
        Assert.Equal(lane.UrgentWaitP50Ms, l.GetProperty("urgentWaitP50Ms").GetDouble());
        Assert.Equal(lane.UrgentWaitP99Ms, l.GetProperty("urgentWaitP99Ms").GetDouble());

        var html = await ReadOnlyClient(app).GetStringAsync(Prefix + "/ops/ambulance");
        Assert.Contains($"data-queue=\"{queue}\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"ambulance-p50\" data-value=\"" + lane.UrgentWaitP50Ms!.Value.ToString("R", CultureInfo.InvariantCulture) + "\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"ambulance-budget\" data-value=\"5\"", html, StringComparison.Ordinal);
        Assert.Contains("data-test=\"ambulance-mode\" data-value=\"Ambulance\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("data-ops-action", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_pages_are_listed_only_for_the_patterns_the_app_uses()
    {
        await using var app = await StartAsync(new Work(), services =>
        {
            services.AddAmbulanceLaneRegistry();
            services.AddMassTransit(x => x.UsingInMemory((ctx, cfg) => cfg.ConfigureEndpoints(ctx)));
        });
        var client = ReadOnlyClient(app);
        var pages = await GetJsonAsync(client, "/api/ops");
        var slugs = pages.EnumerateArray().Select(p => p.GetProperty("slug").GetString()).ToArray();
        Assert.Contains("ambulance", slugs);
        Assert.DoesNotContain("supervisor", slugs);
        Assert.DoesNotContain("control-flow", slugs);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(Prefix + "/api/ops/supervisor")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(Prefix + "/api/ops/control-flow")).StatusCode);
        // A lane-less app shows the page saying so.
        Assert.Contains("data-test=\"ambulance-none\"", await client.GetStringAsync(Prefix + "/ops/ambulance"), StringComparison.Ordinal);
    }

    /// <summary>
    /// Starts the app. Its consumers hold their messages until the test releases them; should the test fail first,
    /// disposing the app releases them before it stops the bus, which waits for the consumers in flight (MassTransit
    /// has no consumer stop timeout by default): a failed assertion fails the test instead of hanging the run.
    /// </summary>
    static async Task<OpsApp> StartAsync(Work work, Action<IServiceCollection> configure)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddMetrics();
        builder.Services.Configure<MassTransitHostOptions>(o =>
        {
            o.StopTimeout = TimeSpan.FromSeconds(30);
            o.ConsumerStopTimeout = TimeSpan.FromSeconds(10);
        });
        configure(builder.Services);
        builder.Services.AddAuthentication(TestAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, TestAuthenticationHandler>(TestAuthenticationHandler.SchemeName, _ => { });
        builder.Services.AddAuthorization(o =>
        {
            o.AddPolicy("view", p => p.RequireRole("viewer", "operator"));
            o.AddPolicy("operate", p => p.RequireRole("operator"));
        });
        builder.Services.AddPatternsDashboard(o =>
        {
            o.Policies.View = "view";
            o.Policies.Operate = "operate";
        });
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapPatternsDashboard(Prefix);
        await app.StartAsync();
        return new OpsApp(app, work);
    }

    static HttpClient ReadOnlyClient(OpsApp app)
    {
        var client = app.App.GetTestClient();
        client.DefaultRequestHeaders.Add("X-Test-User", "victor");
        client.DefaultRequestHeaders.Add("X-Test-Roles", "viewer");
        return client;
    }

    static async Task<JsonElement> GetJsonAsync(HttpClient client, string path)
    {
        var response = await client.GetAsync(Prefix + path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    static async Task<List<Guid>> SendAsync(OpsApp app, string queue, IEnumerable<OpsWork> messages)
    {
        var endpoint = await app.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{queue}"));
        var ids = new List<Guid>();
        foreach (var message in messages)
        {
            var id = NewId.NextGuid();
            await endpoint.Send(message, c => c.MessageId = id);
            ids.Add(id);
        }
        return ids;
    }

    static async Task<(List<Guid> Sent, int Refused)> SendCountingRefusedAsync(OpsApp app, string queue, IEnumerable<OpsWork> messages)
    {
        var endpoint = await app.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"exchange:{queue}"));
        var ids = new List<Guid>();
        var refused = 0;
        foreach (var message in messages)
        {
            var id = NewId.NextGuid();
            try
            {
                await endpoint.Send(message, c => c.MessageId = id);
                ids.Add(id);
            }
            catch (BackPressureException)
            {
                refused++;
            }
        }
        return (ids, refused);
    }

    /// <summary>The started app and the work its consumers hold; disposing releases the work, then stops the app.</summary>
    sealed class OpsApp(WebApplication app, Work work) : IAsyncDisposable
    {
        public WebApplication App => app;

        public IServiceProvider Services => app.Services;

        public async ValueTask DisposeAsync()
        {
            work.Release();
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
                await app.StopAsync(timeout.Token);
            await app.DisposeAsync();
        }
    }

    /// <summary>Holds every consumer until <see cref="Release"/>; records what was consumed, by message id.</summary>
    public sealed class Work
    {
        readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConcurrentDictionary<Guid, int> Consumed { get; } = new();

        public ConcurrentDictionary<Guid, int> ConsumedFromLane { get; } = new();

        public Task Released => _released.Task;

        public void Release() => _released.TrySetResult();
    }

    /// <summary>Waits for the release, then records the message.</summary>
    public sealed class HeldConsumer(Work work) : IConsumer<OpsWork>
    {
        public async Task Consume(ConsumeContext<OpsWork> context)
        {
            await work.Released.WaitAsync(context.CancellationToken);
            Assert.True(work.Consumed.TryAdd(context.MessageId!.Value, context.Message.Number), "consumed once");
            if (context.ReceiveContext.InputAddress?.AbsolutePath.EndsWith(AmbulanceLaneOptions.DefaultSuffix, StringComparison.Ordinal) == true)
                work.ConsumedFromLane.TryAdd(context.MessageId!.Value, context.Message.Number);
        }
    }
}
