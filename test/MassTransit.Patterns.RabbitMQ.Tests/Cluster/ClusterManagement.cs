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

    /// <summary>
    /// Waits until every member of <paramref name="queue"/>'s Raft group is online: a fault injected before the followers run
    /// would leave one follower alone after the leader's loss, without the majority an election needs.
    /// </summary>
    internal static Task AllMembersOnlineAsync(string queue) =>
        Eventually.True(async () =>
        {
            foreach (var port in ServiceEnvironment.RabbitClusterManagementPorts)
            {
                try
                {
                    using var client = Client(port);
                    var json = await client.GetFromJsonAsync<JsonElement>($"api/queues/%2F/{queue}");
                    return json.TryGetProperty("online", out var online) && online.GetArrayLength() == ServiceEnvironment.RabbitClusterManagementPorts.Length;
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                }
            }
            return false;
        }, TimeSpan.FromSeconds(60), $"every member of {queue}'s Raft group is online");

    /// <summary>The cluster node (1..N) that leads <paramref name="queue"/>'s Raft group, read from the management API of any node that answers.</summary>
    internal static async Task<int> LeaderAsync(string queue)
    {
        var mgmt = ServiceEnvironment.RabbitClusterManagementPorts;
        string? leader = null;
        await Eventually.True(async () =>
        {
            foreach (var port in mgmt)
            {
                try
                {
                    using var client = Client(port);
                    var json = await client.GetFromJsonAsync<JsonElement>($"api/queues/%2F/{queue}");
                    if (json.GetProperty("type").GetString() != "quorum")
                        throw new InvalidOperationException($"{queue} is a {json.GetProperty("type").GetString()} queue, not a quorum queue");
                    if (json.TryGetProperty("leader", out var l) && l.GetString() is { Length: > 0 } name)
                    {
                        leader = name;
                        return true;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }
            }
            return false;
        }, TimeSpan.FromSeconds(30), $"the management API names the leader of {queue}");
        // Cluster node k is mtp1<k>@localhost.
        var node = leader!.Split('@')[0];
        return int.Parse(node[4..]);
    }
}

/// <summary>The tests that kill and restart cluster nodes run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "RabbitMQ cluster";
}
