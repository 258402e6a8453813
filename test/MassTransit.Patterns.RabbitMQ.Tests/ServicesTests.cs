using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.RabbitMQ.Tests;

/// <summary>The brokers build/services.sh starts are real and independent of each other.</summary>
public sealed class ServicesTests
{
    [Fact]
    public async Task Each_node_is_an_independent_broker()
    {
        var ports = ServiceEnvironment.RabbitAmqpPorts;
        Assert.True(ports.Length >= 3, $"build/test.sh starts three brokers (found {ports.Length}: {string.Join(",", ports)})");
        var queue = Broker.UniqueQueue("only-on-second");

        await using var connection = await Broker.Factory(1).CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: true);

        for (var node = 0; node < ports.Length; node++)
        {
            await using var probe = new RabbitMqQueueDepthProbe(Options.Create(new RabbitMqProbeOptions
            {
                HostName = ServiceEnvironment.RabbitHost,
                Port = ports[node],
                UserName = ServiceEnvironment.RabbitUser,
                Password = ServiceEnvironment.RabbitPassword
            }));
            if (node == 1)
                Assert.Equal(0, (await probe.GetDepthAsync(queue)).Ready);
            else
                Assert.Equal(QueueDepthFailure.QueueNotFound, (await Assert.ThrowsAsync<QueueDepthProbeException>(() => probe.GetDepthAsync(queue))).Failure);
        }
    }
}
