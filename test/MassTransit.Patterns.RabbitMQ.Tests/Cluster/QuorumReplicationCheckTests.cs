using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>
/// Event forwarding's start-up check on the cluster: quorum queues replicated on 3 nodes pass; a replication factor
/// below 3 starts (it is the user's choice) with a warning naming the setting, and the queue is declared as asked.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class QuorumReplicationCheckTests
{
    [Theory]
    [InlineData(3, false)]
    [InlineData(2, true)]
    public async Task A_quorum_replication_factor_below_three_starts_with_a_warning_and_three_without(int factor, bool warned)
    {
        var queue = $"fwd-qq{factor}-{Guid.NewGuid():N}"[..24];
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        EventForwardingStartupCheck? check = null;
        await using var provider = new ServiceCollection()
            .AddMassTransitTestHarness(x =>
            {
                x.AddEventForwarding();
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(ServiceEnvironment.RabbitHost, (ushort)ports[0], "/", h =>
                    {
                        h.Username(ServiceEnvironment.RabbitUser);
                        h.Password(ServiceEnvironment.RabbitPassword);
                        h.UseCluster(c =>
                        {
                            foreach (var port in ports)
                                c.Node($"{ServiceEnvironment.RabbitHost}:{port}");
                        });
                    });
                    cfg.UseEventForwarding(context, o =>
                    {
                        o.QuorumQueues = true;
                        o.QuorumReplicationFactor = factor;
                    });
                    check = context.GetRequiredService<EventForwardingStartupCheck>();
                    cfg.ReceiveEndpoint(queue, e => e.Handler<PingQuorum>(_ => Task.CompletedTask));
                });
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        try
        {
            await harness.Start();
            var settings = check!.Violations.Select(v => $"{v.Setting} ({v.Severity})").ToList();
            if (warned)
                Assert.Equal([$"endpoint {queue}: x-quorum-initial-group-size = {factor} (Warning)"], settings);
            else
                Assert.Empty(settings);

            using var client = Management(ServiceEnvironment.RabbitClusterManagementPorts[1]);
            await Eventually.True(async () =>
            {
                var q = await client.GetFromJsonAsync<JsonElement>($"api/queues/%2F/{queue}");
                return q.GetProperty("type").GetString() == "quorum" && q.TryGetProperty("members", out var members) && members.GetArrayLength() == factor;
            }, TimeSpan.FromSeconds(15), $"{queue} is a quorum queue with {factor} members");
        }
        finally
        {
            await harness.Stop();
            using var client = Management(ServiceEnvironment.RabbitClusterManagementPorts[0]);
            await client.DeleteAsync($"api/queues/%2F/{queue}");
        }
    }

    public sealed record PingQuorum;

    static HttpClient Management(int port)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://{ServiceEnvironment.RabbitHost}:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
        return client;
    }
}
