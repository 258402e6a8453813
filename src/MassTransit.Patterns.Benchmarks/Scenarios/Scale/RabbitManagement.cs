using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>The broker's own count of queues, exchanges and bindings, read from the RabbitMQ management API (as the tests read it).</summary>
public sealed class RabbitManagement : IDisposable
{
    readonly HttpClient _http;

    public RabbitManagement()
    {
        _http = new HttpClient { BaseAddress = ServiceEnvironment.RabbitManagementUri, Timeout = TimeSpan.FromSeconds(10) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
    }

    /// <summary>Queues whose name starts with <paramref name="prefix"/>.</summary>
    public Task<IReadOnlyList<string>> QueuesAsync(string prefix, CancellationToken cancellationToken) => NamesAsync("queues", prefix, cancellationToken);

    /// <summary>Exchanges whose name starts with <paramref name="prefix"/>.</summary>
    public Task<IReadOnlyList<string>> ExchangesAsync(string prefix, CancellationToken cancellationToken) => NamesAsync("exchanges", prefix, cancellationToken);

    /// <summary>Bindings whose source is <paramref name="exchange"/> (0 when it does not exist).</summary>
    public async Task<int> BindingsFromAsync(string exchange, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync($"api/exchanges/%2F/{Uri.EscapeDataString(exchange)}/bindings/source", cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
            return 0;
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return document.RootElement.GetArrayLength();
    }

    async Task<IReadOnlyList<string>> NamesAsync(string kind, string prefix, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        for (var page = 1; ; page++)
        {
            var regex = Uri.EscapeDataString("^" + System.Text.RegularExpressions.Regex.Escape(prefix));
            var body = await _http.GetFromJsonAsync<JsonElement>($"api/{kind}/%2F?page={page}&page_size=500&name={regex}&use_regex=true&columns=name", cancellationToken);
            foreach (var item in body.GetProperty("items").EnumerateArray())
                names.Add(item.GetProperty("name").GetString()!);
            if (page >= body.GetProperty("page_count").GetInt32())
                return names;
        }
    }

    /// <summary>Deletes the queues and exchanges starting with <paramref name="prefix"/> (a step's leftovers).</summary>
    public async Task DeleteAllAsync(string prefix, CancellationToken cancellationToken)
    {
        foreach (var queue in await QueuesAsync(prefix, cancellationToken))
            (await _http.DeleteAsync($"api/queues/%2F/{Uri.EscapeDataString(queue)}", cancellationToken)).Dispose();
        foreach (var exchange in await ExchangesAsync(prefix, cancellationToken))
            (await _http.DeleteAsync($"api/exchanges/%2F/{Uri.EscapeDataString(exchange)}", cancellationToken)).Dispose();
    }

    public void Dispose() => _http.Dispose();
}
