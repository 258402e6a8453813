using System.Text;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>The AMQP queue-depth probe on the cluster: it reads a quorum queue's depth through any node, also while the node it named first is down.</summary>
[Collection(ClusterCollection.Name)]
public sealed class QueueDepthOnClusterTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_probe_reads_a_quorum_queue_through_another_node_while_its_first_node_is_down()
    {
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        var queue = $"qd-cluster-{Guid.NewGuid():N}"[..24];
        const int messages = 25;
        // The queue lives on nodes 2 and 3 as well: declared and filled through node 2.
        var factory = new ConnectionFactory { HostName = ServiceEnvironment.RabbitHost, Port = ports[1], UserName = ServiceEnvironment.RabbitUser, Password = ServiceEnvironment.RabbitPassword };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
            for (var i = 0; i < messages; i++)
                await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { Persistent = true }, Encoding.UTF8.GetBytes($"{i}"));
        }

        await using var probe = new RabbitMqQueueDepthProbe(Options.Create(new RabbitMqProbeOptions
        {
            HostName = ServiceEnvironment.RabbitHost,
            Port = ports[0],
            UserName = ServiceEnvironment.RabbitUser,
            Password = ServiceEnvironment.RabbitPassword,
            ClusterNodes = [.. ports.Skip(1).Select(p => $"{ServiceEnvironment.RabbitHost}:{p}")]
        }));
        try
        {
            var before = await probe.GetDepthAsync(queue);
            await ServiceEnvironment.RunServicesScriptAsync("cluster-kill 1");
            // The probe's connection to node 1 is gone; a read may fail once on it, the next connects to node 2.
            long? after = null;
            await Eventually.True(async () =>
            {
                try
                {
                    after = (await probe.GetDepthAsync(queue)).Ready;
                    return true;
                }
                catch (Exception exception)
                {
                    output.WriteLine($"read failed while node 1 was down: {exception.GetType().Name}: {exception.Message}");
                    return false;
                }
            }, TimeSpan.FromSeconds(30), "the probe reads the quorum queue through another node");
            output.WriteLine($"ready before the kill {before.Ready}, after {after}");
            Assert.Equal(messages, before.Ready);
            Assert.Equal(messages, after);
        }
        finally
        {
            await ServiceEnvironment.RunServicesScriptAsync("start");
            await ClusterManagement.DeleteQueuesAsync(queue);
        }
    }
}
