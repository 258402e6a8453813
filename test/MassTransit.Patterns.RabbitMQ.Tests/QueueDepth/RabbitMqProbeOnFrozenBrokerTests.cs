using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;
using MassTransit.Patterns.Supervisor;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.QueueDepth;

/// <summary>
/// The RabbitMQ depth probes against a hung broker: a throwaway node of this test frozen with
/// kill -STOP (TCP accepts, nothing answers), never a shared node. A reading must end by the caller's
/// token and by the probe's own timeout, and the probe must read again once the node is thawed.
/// </summary>
public sealed class RabbitMqProbeOnFrozenBrokerTests(ITestOutputHelper output)
{
    static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task The_amqp_probe_on_a_frozen_node_ends_by_the_callers_token_and_by_its_own_timeout_a_supervisor_over_it_keeps_looking_and_both_read_again_after_the_thaw()
    {
        await using var node = await ThrowawayRabbitNode.StartAsync();
        const string queue = "frozen-probe";
        var factory = new ConnectionFactory { HostName = "127.0.0.1", Port = node.AmqpPort, UserName = node.UserName, Password = node.Password };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            for (var i = 0; i < 5; i++)
                await channel.BasicPublishAsync("", queue, mandatory: true, new BasicProperties { Persistent = true }, Encoding.UTF8.GetBytes($"m{i}"));
        }

        await using var probe = new RabbitMqQueueDepthProbe(Options.Create(new RabbitMqProbeOptions
        {
            HostName = "127.0.0.1",
            Port = node.AmqpPort,
            UserName = node.UserName,
            Password = node.Password,
            ReadTimeout = TimeSpan.FromSeconds(1)
        }));
        Assert.Equal(5, (await probe.GetDepthAsync(queue, TestContext.Current.CancellationToken)).Ready);   // connected

        await using (var frozen = FrozenNode.FreezeListener(node.AmqpPort, "throwaway node"))
        {
            // The caller's token: one second.
            using var second = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var watch = Stopwatch.StartNew();
            var failure = await Assert.ThrowsAnyAsync<Exception>(() => probe.GetDepthAsync(queue, second.Token));
            output.WriteLine($"frozen, 1 s token: {failure.GetType().Name} after {watch.Elapsed.TotalSeconds:0.00} s: {failure.Message}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1) + Slack, $"the reading ended {watch.Elapsed.TotalSeconds:0.00} s after it began, with a 1 s token");
            Assert.True(failure is OperationCanceledException or QueueDepthProbeException { Failure: QueueDepthFailure.Timeout }, failure.ToString());

            // No token at all: the probe's own read timeout (1 s) ends each reading, also on the new connection it then tries.
            for (var i = 0; i < 3; i++)
            {
                watch.Restart();
                var timedOut = await Assert.ThrowsAsync<QueueDepthProbeException>(() => probe.GetDepthAsync(queue, CancellationToken.None));
                output.WriteLine($"frozen, own timeout, reading {i}: after {watch.Elapsed.TotalSeconds:0.00} s: {timedOut.Message}");
                Assert.Equal(QueueDepthFailure.Timeout, timedOut.Failure);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1) + Slack, $"reading {i} ended {watch.Elapsed.TotalSeconds:0.00} s after it began, with a 1 s read timeout");
            }
            output.WriteLine($"thawing after {frozen.FrozenFor.TotalSeconds:0.0} s");
        }

        // Thawed: the next readings answer again.
        await ReadsAgain(probe, queue);

        // A supervisor over the probe (probe timeout 1 s, poll 200 ms) keeps looking through a freeze, each look bounded.
        var ticks = new System.Collections.Concurrent.ConcurrentQueue<(SupervisorTick Tick, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        await using var supervisor = new ConsumerSupervisor(queue, new SupervisorOptions
        {
            MinConsumers = 1,
            MaxConsumers = 4,
            PollInterval = TimeSpan.FromMilliseconds(200),
            ProbeTimeout = TimeSpan.FromSeconds(1)
        }, new ElasticConcurrencyLimit(1), probe, NullLogger.Instance);
        supervisor.Ticked += t => ticks.Enqueue((t, clock.Elapsed));
        await supervisor.StartAsync(TestContext.Current.CancellationToken);
        await Eventually.True(() => supervisor.LastTick?.Depth == 5, TimeSpan.FromSeconds(10), "the supervisor reads the node");
        TimeSpan frozenAt, thawedAt;
        await using (var frozen = FrozenNode.FreezeListener(node.AmqpPort, "throwaway node"))
        {
            frozenAt = clock.Elapsed;
            await Eventually.True(() => supervisor.ProbeFailures >= 4, TimeSpan.FromSeconds(10),
                $"the supervisor keeps looking at the frozen node (ticks {supervisor.Ticks}, failures {supervisor.ProbeFailures})");
            thawedAt = clock.Elapsed;
        }
        await Eventually.True(() => supervisor.LastTick?.Depth == 5, TimeSpan.FromSeconds(20), "the supervisor reads the thawed node");
        var during = ticks.Where(t => t.At > frozenAt && t.At <= thawedAt).ToArray();
        output.WriteLine($"frozen {(thawedAt - frozenAt).TotalSeconds:0.0} s: {during.Length} looks, " +
            string.Join(", ", during.Select(t => $"{t.At.TotalSeconds:0.0}s {(t.Tick.Depth?.ToString() ?? "failed")}")));
        Assert.True(during.Length >= 4);
        Assert.All(during, t => Assert.Null(t.Tick.Depth));
        // No gap between two looks is longer than the probe timeout plus slack.
        var times = during.Select(t => t.At).Prepend(frozenAt).ToArray();
        for (var i = 1; i < times.Length; i++)
            Assert.True(times[i] - times[i - 1] < TimeSpan.FromSeconds(1) + Slack, $"{(times[i] - times[i - 1]).TotalSeconds:0.00} s between two looks");
    }

    static Task ReadsAgain(RabbitMqQueueDepthProbe probe, string queue) =>
        Eventually.True(async () =>
        {
            try
            {
                return (await probe.GetDepthAsync(queue, TestContext.Current.CancellationToken)).Ready == 5;
            }
            catch (QueueDepthProbeException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(20), "the probe reads the thawed node again");

    [Fact]
    public async Task The_management_probe_against_an_http_endpoint_that_accepts_and_never_answers_ends_by_its_timeout_and_by_the_callers_token()
    {
        // A hung management API: the socket accepts (the kernel does it), nothing is ever answered.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepted = new List<Socket>();
        using var stop = new CancellationTokenSource();
        var acceptLoop = Task.Run(async () =>
        {
            try
            {
                while (true)
                    accepted.Add(await listener.AcceptSocketAsync(stop.Token));
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            RabbitMqManagementQueueDepthProbe Probe(TimeSpan requestTimeout) => new(new HttpClient(), Options.Create(new RabbitMqManagementProbeOptions
            {
                BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
                RequestTimeout = requestTimeout
            }));

            var watch = Stopwatch.StartNew();
            var timedOut = await Assert.ThrowsAsync<QueueDepthProbeException>(() => Probe(TimeSpan.FromSeconds(1)).GetDepthAsync("q", CancellationToken.None));
            output.WriteLine($"own timeout: {watch.Elapsed.TotalSeconds:0.00} s: {timedOut.Message}");
            Assert.Equal(QueueDepthFailure.Timeout, timedOut.Failure);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1) + Slack, $"{watch.Elapsed.TotalSeconds:0.00} s with a 1 s request timeout");

            using var second = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            watch.Restart();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Probe(TimeSpan.FromSeconds(30)).GetDepthAsync("q", second.Token));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1) + Slack, $"{watch.Elapsed.TotalSeconds:0.00} s with a 1 s token");
        }
        finally
        {
            await stop.CancelAsync();
            await acceptLoop;
            foreach (var socket in accepted)
                socket.Dispose();
        }
    }
}
