using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>The cluster build/services.sh starts (<c>--cluster 3</c>) is one RabbitMQ cluster whose quorum queues replicate on every node.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterServicesTests
{
    [Fact]
    public async Task The_cluster_nodes_run_as_one_cluster_and_a_quorum_queue_has_a_member_on_each()
    {
        var mgmt = ServiceEnvironment.RabbitClusterManagementPorts;
        Assert.Equal(3, mgmt.Length);
        var queue = $"qq-check-{Guid.NewGuid():N}"[..24];
        using var first = Management(mgmt[0]);
        var declared = await first.PutAsJsonAsync($"api/queues/%2F/{queue}", new { durable = true, arguments = new Dictionary<string, object> { ["x-queue-type"] = "quorum" } });
        Assert.True(declared.IsSuccessStatusCode, $"declaring a quorum queue on cluster node 1: {(int)declared.StatusCode}");
        try
        {
            // Every node sees the same cluster and the queue, whichever node declared it.
            foreach (var port in mgmt)
            {
                using var client = Management(port);
                var nodes = await client.GetFromJsonAsync<JsonElement>("api/nodes");
                Assert.Equal(3, nodes.EnumerateArray().Count(n => n.GetProperty("running").GetBoolean()));
                await Eventually.True(async () =>
                {
                    var q = await client.GetFromJsonAsync<JsonElement>($"api/queues/%2F/{queue}");
                    return q.GetProperty("type").GetString() == "quorum" && q.TryGetProperty("members", out var members) && members.GetArrayLength() == 3;
                }, TimeSpan.FromSeconds(15), $"node on management port {port} sees {queue} as a quorum queue with 3 members");
            }
        }
        finally
        {
            await first.DeleteAsync($"api/queues/%2F/{queue}");
        }
    }

    static HttpClient Management(int port)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://{ServiceEnvironment.RabbitHost}:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
        return client;
    }
}
