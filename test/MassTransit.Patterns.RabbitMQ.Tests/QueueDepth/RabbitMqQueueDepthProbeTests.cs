using System.Text;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.QueueDepth;

/// <summary>The probes against the real broker: depths the test creates by publishing and by holding deliveries unacknowledged.</summary>
public sealed class RabbitMqQueueDepthProbeTests
{
    static RabbitMqProbeOptions AmqpOptions() => new()
    {
        HostName = ServiceEnvironment.RabbitHost,
        Port = ServiceEnvironment.RabbitAmqpPort,
        UserName = ServiceEnvironment.RabbitUser,
        Password = ServiceEnvironment.RabbitPassword
    };

    static RabbitMqManagementProbeOptions ManagementOptions() => new()
    {
        BaseAddress = ServiceEnvironment.RabbitManagementUri,
        UserName = ServiceEnvironment.RabbitUser,
        Password = ServiceEnvironment.RabbitPassword
    };

    static async Task PublishAsync(IChannel channel, string queue, int count)
    {
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        var properties = new BasicProperties { Persistent = true };
        for (var i = 0; i < count; i++)
            await channel.BasicPublishAsync("", queue, mandatory: true, properties, Encoding.UTF8.GetBytes($"message {i}"));
    }

    [Fact]
    public async Task Amqp_probe_reads_the_ready_count_of_a_real_queue()
    {
        var queue = Broker.UniqueQueue("probe-amqp");
        await using var connection = await Broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        try
        {
            await PublishAsync(channel, queue, 137);
            await using var probe = new RabbitMqQueueDepthProbe(Options.Create(AmqpOptions()));

            var depth = await probe.GetDepthAsync(queue);

            Assert.Equal(137, depth.Ready);
            Assert.Null(depth.Unacknowledged);
            Assert.Equal(0, depth.Consumers);
            await new MessageAccount().Sent(137, "published").Endpoint(queue, Expect.Exactly(137)).AssertAllAccountedAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            await channel.QueueDeleteAsync(queue);
        }
    }

    [Fact]
    public async Task Management_probe_counts_ready_and_unacknowledged_separately()
    {
        var queue = Broker.UniqueQueue("probe-mgmt");
        const int published = 50, held = 12;
        await using var connection = await Broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await using var consumerChannel = await connection.CreateChannelAsync();
        try
        {
            await PublishAsync(channel, queue, published);

            // A consumer that takes `held` deliveries (the prefetch) and never acknowledges them.
            await consumerChannel.BasicQosAsync(0, held, false);
            var delivered = 0;
            var consumer = new global::RabbitMQ.Client.Events.AsyncEventingBasicConsumer(consumerChannel);
            consumer.ReceivedAsync += (_, _) =>
            {
                Interlocked.Increment(ref delivered);
                return Task.CompletedTask;
            };
            await consumerChannel.BasicConsumeAsync(queue, autoAck: false, consumer);
            await Eventually.True(() => Volatile.Read(ref delivered) == held, TimeSpan.FromSeconds(10), "the consumer holds its prefetch");

            using var http = new HttpClient();
            var probe = new RabbitMqManagementQueueDepthProbe(http, Options.Create(ManagementOptions()));

            // The broker publishes queue statistics on its collection interval: wait for them to catch up.
            QueueDepthSample? last = null;
            await Eventually.True(async () =>
            {
                try
                {
                    last = await probe.GetDepthAsync(queue);
                }
                catch (QueueDepthProbeException e) when (e.Failure == QueueDepthFailure.InvalidResponse)
                {
                    return false;
                }
                return last is { Ready: published - held, Unacknowledged: held, Consumers: 1 };
            }, TimeSpan.FromSeconds(30), $"management shows {published - held} ready and {held} unacknowledged (last: {last})", TimeSpan.FromMilliseconds(250));

            Assert.Equal(published, last!.Value.Total);
            // All in the queue: ready, or delivered and held unacknowledged by the test's consumer.
            await new MessageAccount().Sent(published, "published").Endpoint(queue, Expect.Exactly(published), unacknowledged: true)
                .AssertAllAccountedAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            await channel.QueueDeleteAsync(queue);
        }
    }

    [Fact]
    public async Task A_missing_queue_is_not_found_on_both_probes()
    {
        var queue = Broker.UniqueQueue("probe-none");
        await using var amqp = new RabbitMqQueueDepthProbe(Options.Create(AmqpOptions()));
        using var http = new HttpClient();
        var management = new RabbitMqManagementQueueDepthProbe(http, Options.Create(ManagementOptions()));

        var amqpFailure = await Assert.ThrowsAsync<QueueDepthProbeException>(() => amqp.GetDepthAsync(queue));
        var managementFailure = await Assert.ThrowsAsync<QueueDepthProbeException>(() => management.GetDepthAsync(queue));

        Assert.Equal(QueueDepthFailure.QueueNotFound, amqpFailure.Failure);
        Assert.Equal(QueueDepthFailure.QueueNotFound, managementFailure.Failure);

        // The probe's own connection survives the channel that the 404 closed.
        var existing = Broker.UniqueQueue("probe-after");
        await using var connection = await Broker.Factory().CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(existing, durable: false, exclusive: false, autoDelete: true);
        Assert.Equal(0, (await amqp.GetDepthAsync(existing)).Ready);
    }

    [Fact]
    public async Task An_unreachable_broker_is_a_failure_not_depth_zero()
    {
        var options = AmqpOptions();
        options.Port = FreePort();
        options.Password = "distinctive-probe-secret";
        options.ConnectionTimeout = TimeSpan.FromSeconds(2);
        await using var probe = new RabbitMqQueueDepthProbe(Options.Create(options));

        var failure = await Assert.ThrowsAsync<QueueDepthProbeException>(() => probe.GetDepthAsync("anything"));

        Assert.Equal(QueueDepthFailure.Unreachable, failure.Failure);
        Assert.DoesNotContain("distinctive-probe-secret", failure.ToString());
    }

    static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
