using System.Net.Http.Headers;
using System.Text;
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
}
