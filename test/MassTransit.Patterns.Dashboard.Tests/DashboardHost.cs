using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Patterns.Dashboard.TestHost;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>The test web host (in-memory transport, workflow processor on the in-memory repository, console at /patterns) with settings.</summary>
public sealed class DashboardHost : WebApplicationFactory<Program>
{
    public const string Prefix = "/patterns";
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly Dictionary<string, string?> _settings;

    public DashboardHost(params (string Key, string? Value)[] settings) => _settings = settings.ToDictionary(s => "Dashboard:" + s.Key, s => s.Value);

    /// <summary>Authentication on (X-Test-User / X-Test-Roles) with a policy per action: view, edit, resubmit, discard.</summary>
    public static DashboardHost WithPolicies(params (string Key, string? Value)[] settings) => new([("Auth", "test"), .. settings]);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
            builder.UseSetting(key, value);
    }

    public OrderLedger Ledger => Services.GetRequiredService<OrderLedger>();

    /// <summary>A client signed in as <paramref name="user"/> with <paramref name="roles"/> (null user: anonymous), with the antiforgery token when asked.</summary>
    public async Task<HttpClient> ClientAsync(string? user, string roles = "", bool antiforgery = true)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        if (user is not null)
        {
            client.DefaultRequestHeaders.Add("X-Test-User", user);
            client.DefaultRequestHeaders.Add("X-Test-Roles", roles);
        }
        if (antiforgery)
        {
            var response = await client.GetAsync(Prefix + "/api/antiforgery");
            if (response.IsSuccessStatusCode)
            {
                var token = await response.Content.ReadFromJsonAsync<JsonObject>(Json);
                client.DefaultRequestHeaders.Add((string)token!["headerName"]!, (string)token["token"]!);
            }
        }
        return client;
    }

    /// <summary>Sends an order to the orders queue with a known message id.</summary>
    public async Task<Guid> SendAsync(PlaceOrder order, Action<SendContext>? headers = null)
    {
        var id = NewId.NextGuid();
        var bus = Services.GetRequiredService<IBus>();
        var endpoint = await bus.GetSendEndpoint(new Uri("queue:orders"));
        await endpoint.Send(order, c =>
        {
            c.MessageId = id;
            headers?.Invoke(c);
        });
        return id;
    }

    public async Task<WorkflowMessageDetails?> FindAsync(Guid id)
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IWorkflowMessageStore>().FindAsync(id);
    }

    /// <summary>Every workflow in the store: id and state.</summary>
    public async Task<Dictionary<Guid, string>> StatesAsync()
    {
        await using var scope = Services.CreateAsyncScope();
        var page = await scope.ServiceProvider.GetRequiredService<IWorkflowMessageStore>().ListAsync(new WorkflowMessageQuery { PageSize = 500 });
        return page.Items.ToDictionary(m => m.CorrelationId, m => m.State);
    }

    public async Task<WorkflowMessageDetails> WaitForStateAsync(Guid id, string state, string because)
    {
        WorkflowMessageDetails? details = null;
        await Eventually.True(async () => (details = await FindAsync(id))?.Summary?.State == state, TimeSpan.FromSeconds(20),
            $"{because} (state {details?.Summary?.State ?? "none"})");
        return details!;
    }

    /// <summary>Sends <paramref name="count"/> orders without a currency and waits until each waits for a person.</summary>
    public async Task<List<Guid>> FailedOrdersAsync(int count, Func<int, PlaceOrder>? order = null)
    {
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
            ids.Add(await SendAsync(order?.Invoke(i) ?? new PlaceOrder(Guid.NewGuid(), i + 1, null)));
        foreach (var id in ids)
            await WaitForStateAsync(id, "AwaitingPerson", "an order without a currency waits for a person");
        return ids;
    }

    /// <summary>
    /// Asserts where every message ended: the state of each in the store (and nothing else there), how often each was
    /// processed (and nothing else processed), and that nothing reached a dead end (_error, _skipped).
    /// </summary>
    public async Task AssertAccountedAsync(IReadOnlyDictionary<Guid, string> expectedStates, IReadOnlyDictionary<Guid, int> expectedProcessed)
    {
        var states = await StatesAsync();
        Assert.Equal(expectedStates.OrderBy(e => e.Key), states.OrderBy(e => e.Key));
        foreach (var (id, times) in expectedProcessed)
            Assert.True(Ledger.ProcessedCount(id) == times, $"{id} processed {Ledger.ProcessedCount(id)} time(s), expected {times}");
        Assert.Equal(expectedProcessed.Values.Sum(), Ledger.Processed.Values.Sum());
        var deadEnds = Services.GetRequiredService<DeadEnds>();
        Assert.True(deadEnds.Arrived.IsEmpty, "reached a dead end: " + string.Join(", ", deadEnds.Arrived.Select(d => $"{d.MessageId} in {d.Queue}")));
    }
}
