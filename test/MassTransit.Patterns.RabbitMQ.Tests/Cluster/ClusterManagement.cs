using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>The cluster's management API, through whichever node answers.</summary>
public static class ClusterManagement
{
    public static HttpClient Client(int port)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://{ServiceEnvironment.RabbitHost}:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
        return client;
    }

    /// <summary>Deletes the queues (and their _error/_skipped siblings) through the first node that answers.</summary>
    public static async Task DeleteQueuesAsync(params string[] queues)
    {
        foreach (var port in ServiceEnvironment.RabbitClusterManagementPorts)
        {
            try
            {
                using var client = Client(port);
                foreach (var name in queues.SelectMany(q => new[] { q, q + "_error", q + "_skipped" }))
                    await client.DeleteAsync($"api/queues/%2F/{name}");
                return;
            }
            catch (HttpRequestException)
            {
                // That node is down: the next one deletes for the cluster.
            }
        }
    }

    /// <summary>Deletes the exchanges through the first node that answers.</summary>
    public static async Task DeleteExchangesAsync(params string[] exchanges)
    {
        foreach (var port in ServiceEnvironment.RabbitClusterManagementPorts)
        {
            try
            {
                using var client = Client(port);
                foreach (var name in exchanges)
                    await client.DeleteAsync($"api/exchanges/%2F/{name}");
                return;
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
                // That node is down: the next one deletes for the cluster.
            }
        }
    }

    /// <summary>
    /// Reads <paramref name="queue"/> from the management API of whichever node answers until <paramref name="read"/> takes
    /// a value from it (returns non-null), for up to <paramref name="timeout"/>; fails naming <paramref name="what"/>.
    /// </summary>
    public static async Task<T> QueueAsync<T>(string queue, Func<JsonElement, T?> read, string what, TimeSpan timeout)
        where T : class
    {
        T? value = null;
        await Eventually.True(async () =>
        {
            foreach (var port in ServiceEnvironment.RabbitClusterManagementPorts)
            {
                try
                {
                    using var client = Client(port);
                    value = read(await client.GetFromJsonAsync<JsonElement>($"api/queues/%2F/{queue}"));
                    return value is not null;
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                    // That node is down, or the queue is not there yet: ask the next one.
                }
            }
            return false;
        }, timeout, what);
        return value!;
    }

    /// <summary>The cluster node number (1..N) of a node name: cluster node k is mtp1&lt;k&gt;@localhost.</summary>
    public static int NodeNumber(string node) => int.Parse(node.Split('@')[0][4..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Waits until every member of <paramref name="queue"/>'s Raft group is online: a fault injected before the followers run
    /// would leave one follower alone after the leader's loss, without the majority an election needs.
    /// </summary>
    internal static Task AllMembersOnlineAsync(string queue) =>
        QueueAsync(queue, json => json.TryGetProperty("online", out var online) && online.GetArrayLength() == ServiceEnvironment.RabbitClusterManagementPorts.Length
                ? queue
                : null,
            $"every member of {queue}'s Raft group is online", TimeSpan.FromSeconds(60));

    /// <summary>The cluster node (1..N) that leads <paramref name="queue"/>'s Raft group, read from the management API of any node that answers.</summary>
    internal static async Task<int> LeaderAsync(string queue)
    {
        var leader = await QueueAsync(queue, json =>
        {
            if (json.GetProperty("type").GetString() != "quorum")
                throw new InvalidOperationException($"{queue} is a {json.GetProperty("type").GetString()} queue, not a quorum queue");
            return json.TryGetProperty("leader", out var l) && l.GetString() is { Length: > 0 } name ? name : null;
        }, $"the management API names the leader of {queue}", TimeSpan.FromSeconds(30));
        return NodeNumber(leader);
    }
}

/// <summary>The tests that kill and restart cluster nodes run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "RabbitMQ cluster";
}
