using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MassTransit.Patterns.RabbitMQ.Tests.Accounting;

/// <summary>A broker whose queues an account reads: AMQP for exact ready counts, the management API (where it has one) for unacknowledged ones and a look inside.</summary>
public sealed record RabbitNode(string Name, int AmqpPort, string UserName, string Password, Uri? Management)
{
    /// <summary>Node <paramref name="index"/> of those build/services.sh started.</summary>
    public static RabbitNode Shared(int index = 0) => new($"node{index}", ServiceEnvironment.RabbitAmqpPorts[index], ServiceEnvironment.RabbitUser,
        ServiceEnvironment.RabbitPassword, new Uri($"http://{ServiceEnvironment.RabbitHost}:{ServiceEnvironment.RabbitManagementPorts[index]}/"));

    /// <summary>A node without the management plugin (a throwaway node): ready counts only.</summary>
    public static RabbitNode AmqpOnly(string name, int amqpPort, string userName, string password) => new(name, amqpPort, userName, password, null);
}

/// <summary>One queue's state: ready (exact, AMQP passive declare), unacknowledged (management API, refreshed every second) and consumers.</summary>
public readonly record struct QueueReading(bool Exists, long Ready, long? Unacknowledged, long Consumers);

/// <summary>Reads queues of one node for an account: one AMQP connection, a channel per reading (a miss closes it), and the management API.</summary>
public sealed class RabbitQueueReader : IAsyncDisposable
{
    readonly RabbitNode _node;
    readonly SemaphoreSlim _connect = new(1, 1);
    readonly HttpClient? _http;
    IConnection? _connection;

    public RabbitQueueReader(RabbitNode node)
    {
        _node = node;
        if (node.Management is not null)
        {
            _http = new HttpClient { BaseAddress = node.Management, Timeout = TimeSpan.FromSeconds(5) };
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{node.UserName}:{node.Password}")));
        }
    }

    public bool HasManagement => _http is not null;

    async Task<IConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open)
            return open;
        await _connect.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsOpen: true })
                return _connection;
            var factory = new ConnectionFactory
            {
                HostName = ServiceEnvironment.RabbitHost,
                Port = _node.AmqpPort,
                UserName = _node.UserName,
                Password = _node.Password,
                ClientProvidedName = "MassTransit.Patterns tests: message account",
                AutomaticRecoveryEnabled = false
            };
            _connection = await factory.CreateConnectionAsync(cancellationToken);
            return _connection;
        }
        finally
        {
            _connect.Release();
        }
    }

    /// <summary>
    /// The queue's messages: ready from a passive declare (exact), and with <paramref name="unacknowledged"/> those delivered
    /// and not acknowledged from the management API when a consumer is attached (with no consumer nothing is
    /// unacknowledged, short of a basic.get not yet settled).
    /// </summary>
    public async Task<QueueReading> ReadAsync(string queue, bool unacknowledged, CancellationToken cancellationToken = default)
    {
        var connection = await ConnectionAsync(cancellationToken);
        QueueDeclareOk ok;
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken))
        {
            try
            {
                ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
            {
                return new QueueReading(false, 0, 0, 0);
            }
        }
        if (ok.ConsumerCount == 0)
            return new QueueReading(true, ok.MessageCount, 0, 0);
        if (_http is null || !unacknowledged)
            return new QueueReading(true, ok.MessageCount, null, ok.ConsumerCount);
        using var response = await _http.GetAsync($"api/queues/%2F/{Uri.EscapeDataString(queue)}", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return new QueueReading(false, 0, 0, 0);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        // A queue declared a moment ago has no statistics until the next collection: unknown, not zero.
        if (!json.RootElement.TryGetProperty("messages_unacknowledged", out var unacked))
            throw new InvalidOperationException($"the management API has no statistics for {queue} yet");
        return new QueueReading(true, ok.MessageCount, unacked.GetInt64(), ok.ConsumerCount);
    }

    /// <summary>
    /// The message ids of a small queue nobody consumes (a dead-letter queue), read through the management API's get with
    /// requeue; null when some message has no id or the queue changed meanwhile.
    /// </summary>
    public async Task<IReadOnlyCollection<Guid>?> IdsAsync(string queue, long expected, CancellationToken cancellationToken = default)
    {
        if (_http is null)
            return null;
        using var response = await _http.PostAsJsonAsync($"api/queues/%2F/{Uri.EscapeDataString(queue)}/get",
            new { count = expected, ackmode = "ack_requeue_true", encoding = "auto", truncate = 1 }, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var ids = new List<Guid>();
        foreach (var message in json.RootElement.EnumerateArray())
        {
            if (!message.GetProperty("properties").TryGetProperty("message_id", out var id) || !Guid.TryParse(id.GetString(), out var guid))
                return null;
            ids.Add(guid);
        }
        return ids.Count == expected ? ids : null;
    }

    /// <summary>The bindings from an exchange to queues or exchanges (0 when it does not exist).</summary>
    public async Task<int> BindingsFromAsync(string exchange, CancellationToken cancellationToken = default)
    {
        if (_http is null)
            throw new InvalidOperationException("no management API on this node to read bindings");
        using var response = await _http.GetAsync($"api/exchanges/%2F/{Uri.EscapeDataString(exchange)}/bindings/source", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return 0;
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return json.RootElement.GetArrayLength();
    }

    /// <summary>
    /// Up to <paramref name="count"/> messages at the head of the queue, through the management API's get with requeue
    /// (they stay in the queue, marked redelivered): message id, type and the headers that say why it is there.
    /// </summary>
    public async Task<IReadOnlyList<string>> PeekAsync(string queue, int count = 5, CancellationToken cancellationToken = default)
    {
        if (_http is null)
            return ["(no management API on this node to look inside)"];
        using var response = await _http.PostAsJsonAsync($"api/queues/%2F/{Uri.EscapeDataString(queue)}/get",
            new { count, ackmode = "ack_requeue_true", encoding = "auto", truncate = 2000 }, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var messages = new List<string>();
        foreach (var message in json.RootElement.EnumerateArray())
        {
            var properties = message.GetProperty("properties");
            var text = new StringBuilder();
            text.Append(properties.TryGetProperty("message_id", out var id) ? $"id {id.GetString()}" : "no id");
            if (properties.TryGetProperty("headers", out var headers) && headers.ValueKind == JsonValueKind.Object)
                foreach (var header in headers.EnumerateObject())
                    if (header.Name is "MT-Reason" or "MT-Fault-Message" or "MT-Fault-ExceptionType" || header.Name.StartsWith("MT-Patterns", StringComparison.Ordinal))
                        text.Append(CultureInfo.InvariantCulture, $", {header.Name}={Shorten(header.Value.ToString())}");
            messages.Add(text.ToString());
        }
        return messages;
    }

    static string Shorten(string value) => value.Length <= 120 ? value : value[..117] + "...";

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
            await _connection.DisposeAsync();
        _http?.Dispose();
        _connect.Dispose();
    }
}

/// <summary>Queue places of a <see cref="MessageAccount"/> on RabbitMQ.</summary>
public static class RabbitMqAccounting
{
    /// <summary>The queues MassTransit and the patterns put beside a receive endpoint's queue X.</summary>
    public static readonly string[] SiblingSuffixes = ["_error", "_skipped", "_lane", "_lane_error", "_lane_skipped"];

    /// <summary>
    /// Declares queue <paramref name="queue"/> with <paramref name="expected"/>, and each of its siblings (<c>_error</c>,
    /// <c>_skipped</c>, <c>_lane</c>, <c>_lane_error</c>, <c>_lane_skipped</c>) as a place that must be empty unless the test
    /// declares it with <see cref="Queue"/>.
    /// </summary>
    /// <remarks>
    /// A queue counts its ready messages (exact: AMQP passive declare). A message delivered to a consumer and not yet
    /// acknowledged is not counted there: it is where its consumer records it (consumed, stored, held), and until then the
    /// sum falls short and the account waits. A test that expects deliveries to stay unacknowledged (a consumer holding
    /// its prefetch) says <paramref name="unacknowledged"/>: they are then read from the management API, whose statistics
    /// refresh every second.
    /// </remarks>
    public static MessageAccount Endpoint(this MessageAccount account, string queue, Expect expected, RabbitNode? node = null, bool unacknowledged = false)
    {
        account.Queue(queue, expected, node, unacknowledged);
        foreach (var suffix in SiblingSuffixes)
        {
            if (queue.EndsWith("_lane", StringComparison.Ordinal) && suffix.StartsWith("_lane", StringComparison.Ordinal))
                continue;
            var sibling = queue + suffix;
            var reader = Reader(account, node);
            account.ImplicitlyEmpty(Name(sibling, node), ct => ReadAsync(reader, sibling, false, ct), ct => ExplainAsync(reader, sibling, ct));
        }
        return account;
    }

    /// <summary>
    /// Declares one queue with <paramref name="expected"/>; a queue that does not exist holds nothing. Counts as
    /// <see cref="Endpoint"/> says.
    /// </summary>
    public static MessageAccount Queue(this MessageAccount account, string queue, Expect expected, RabbitNode? node = null, bool unacknowledged = false)
    {
        var reader = Reader(account, node);
        return account.Place(Name(queue, node), ct => ReadAsync(reader, queue, unacknowledged, ct), expected, ct => ExplainAsync(reader, queue, ct));
    }

    /// <summary>
    /// Declares <paramref name="count"/> messages published (confirmed) to an exchange that nothing is bound to, which the
    /// broker drops by design: the place holds them while the exchange has no binding, and none once it has one (then
    /// some queue must hold them).
    /// </summary>
    public static MessageAccount Unrouted(this MessageAccount account, string exchange, long count, RabbitNode? node = null)
    {
        var reader = Reader(account, node);
        return account.Place($"published to {exchange}, bound to nothing (dropped by the broker)", async ct =>
        {
            var bindings = await reader.BindingsFromAsync(exchange, ct);
            return bindings == 0 ? new PlaceReading(count) : new PlaceReading(0, Note: $"{bindings} binding(s)");
        }, Expect.Exactly(count));
    }

    /// <summary>A little over the brokers' statistics interval (build/services.sh: collect_statistics_interval = 1000).</summary>
    static readonly TimeSpan StatisticsInterval = TimeSpan.FromSeconds(1.2);

    /// <summary>The largest queue whose message ids are read.</summary>
    const long MaxIdsRead = 200;

    static string Name(string queue, RabbitNode? node) => node is null || node.Name == "node0" ? queue : $"{node.Name}:{queue}";

    static RabbitQueueReader Reader(MessageAccount account, RabbitNode? node)
    {
        node ??= RabbitNode.Shared();
        return account.Resource($"rabbit:{node.AmqpPort}", () => new RabbitQueueReader(node));
    }

    static async Task<PlaceReading> ReadAsync(RabbitQueueReader reader, string queue, bool unacknowledged, CancellationToken cancellationToken)
    {
        var reading = await reader.ReadAsync(queue, unacknowledged, cancellationToken);
        if (!reading.Exists)
            return new PlaceReading(0, Note: "no such queue");
        // A small queue nobody consumes (a dead-letter queue) tells its message ids, so a copy of a message accounted elsewhere shows.
        if (reading is { Consumers: 0, Ready: > 0 and <= MaxIdsRead } && await reader.IdsAsync(queue, reading.Ready, cancellationToken) is { } ids)
            return PlaceReading.Of(ids);
        var note = reading.Consumers == 0 ? null
            : reading.Unacknowledged is null ? $"ready {reading.Ready}, {reading.Consumers} consumer(s){(unacknowledged ? ", unacked unknown: no management API" : "")}"
            : $"ready {reading.Ready}, unacked {reading.Unacknowledged}, {reading.Consumers} consumer(s)";
        // Unacknowledged counts come from the management API's statistics, refreshed every second (build/services.sh sets
        // collect_statistics_interval = 1000): a settled reading that used them must outlast a refresh.
        return new PlaceReading(reading.Ready + (reading.Unacknowledged ?? 0), Note: note,
            Staleness: reading is { Consumers: > 0, Unacknowledged: not null } ? StatisticsInterval : TimeSpan.Zero);
    }

    static async Task<string?> ExplainAsync(RabbitQueueReader reader, string queue, CancellationToken cancellationToken) =>
        "first: " + string.Join(" | ", await reader.PeekAsync(queue, 3, cancellationToken));
}
