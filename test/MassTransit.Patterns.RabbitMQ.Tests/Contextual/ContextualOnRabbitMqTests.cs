using System.Collections.Concurrent;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.RabbitMQ.Contextual;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MassTransit.Patterns.RabbitMQ.Tests.Contextual.Messages
{
    public record TenantJob(string Tenant, int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Contextual
{
    using Messages;

    /// <summary>
    /// Contextual queues on the real broker: a burst from one tenant does not delay the others (and does in one
    /// shared queue), a new context's first message reaches the default queue through the alternate exchange,
    /// and retiring a queue with a backlog loses nothing.
    /// </summary>
    public sealed class ContextualOnRabbitMqTests
    {
        /// <summary>The configured processing time of every message.</summary>
        static readonly TimeSpan Work = TimeSpan.FromMilliseconds(40);

        const int Burst = 2_000;
        const int PerContext = 2;
        const int Quiet = 25;

        public sealed class Log
        {
            public readonly ConcurrentQueue<(string Tenant, int Number, string Queue, TimeSpan Latency)> Done = new();
            public readonly ConsumedMessages Consumed = new();
            public volatile TaskCompletionSource? Gate;

            public int Count(string tenant) => Done.Count(d => d.Tenant == tenant);
        }

        public sealed class JobConsumer(Log log) : IConsumer<TenantJob>
        {
            public async Task Consume(ConsumeContext<TenantJob> context)
            {
                if (log.Gate is { } gate)
                    await gate.Task;
                await Task.Delay(Work, context.CancellationToken);
                var latency = DateTime.UtcNow - (context.SentTime ?? DateTime.UtcNow);
                log.Done.Enqueue((context.Message.Tenant, context.Message.Number, context.ReceiveContext.InputAddress.GetEndpointName() ?? "", latency));
                log.Consumed.Record(context);
            }
        }

        static RabbitMqProbeOptions BrokerOptions() => new()
        {
            HostName = ServiceEnvironment.RabbitHost,
            Port = ServiceEnvironment.RabbitAmqpPort,
            UserName = ServiceEnvironment.RabbitUser,
            Password = ServiceEnvironment.RabbitPassword
        };

        /// <summary>Contextual (<paramref name="contextual"/> true: static A, B, C) or one shared queue with the same total concurrency.</summary>
        static async Task<(ServiceProvider Provider, ITestHarness Harness, Log Log, ContextualRouting? Routing)> StartAsync(string queue, bool contextual,
            Action<ContextualQueueConfigurator<TenantJob>>? configure = null)
        {
            var log = new Log();
            var provider = new ServiceCollection()
                .AddSingleton(log)
                .AddMassTransitTestHarness(x =>
                {
                    x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(60));
                    if (contextual)
                        x.AddContextualQueues<TenantJob>();
                    if (contextual)
                        x.AddConsumer<JobConsumer>().ExcludeFromConfigureEndpoints();
                    else
                        x.AddConsumer<JobConsumer>().Endpoint(e =>
                        {
                            e.Name = queue;
                            e.ConcurrentMessageLimit = 3 * PerContext;
                            e.PrefetchCount = 3 * PerContext;
                        });
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                        });
                        if (contextual)
                            cfg.UseContextualQueues<TenantJob>(context, BrokerOptions(), q =>
                            {
                                q.DefaultQueue(queue).Context(m => m.Tenant).Endpoint(e => e.ConfigureConsumer<JobConsumer>(context));
                                q.Options.ConcurrentMessageLimit = PerContext;
                                q.Options.DefaultConcurrentMessageLimit = PerContext;
                                configure?.Invoke(q);
                            });
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            return (provider, harness, log, contextual ? provider.GetRequiredService<ContextualRouting<TenantJob>>() : null);
        }

        static async Task SendBurstAsync(ISendEndpoint endpoint)
        {
            var batch = new List<Task>(200);
            for (var i = 0; i < Burst; i++)
            {
                batch.Add(endpoint.Send(new TenantJob("A", i)));
                if (batch.Count == batch.Capacity)
                {
                    await Task.WhenAll(batch);
                    batch.Clear();
                }
            }
            await Task.WhenAll(batch);
        }

        /// <summary>B and C send one message each every two Works (never more than their concurrency in flight), and wait for them.</summary>
        static async Task<TimeSpan> QuietP99Async(ISendEndpoint endpoint, Log log, int first, TimeSpan wait)
        {
            for (var i = 0; i < Quiet; i++)
            {
                await endpoint.Send(new TenantJob("B", first + i));
                await endpoint.Send(new TenantJob("C", first + i));
                await Task.Delay(Work * 2);
            }
            await Eventually.True(() => log.Done.Count(d => d.Tenant != "A" && d.Number >= first) == 2 * Quiet, wait, "the quiet tenants' messages consumed");
            var latencies = log.Done.Where(d => d.Tenant != "A" && d.Number >= first).Select(d => d.Latency).Order().ToArray();
            return latencies[(int)Math.Ceiling(0.99 * latencies.Length) - 1];
        }

        static async Task DeleteAsync(string queue, params string[] contexts)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            var names = new List<string> { queue };
            names.AddRange(contexts.Select(c => $"{queue}.ctx.{ContextKey.Normalize(c, InvalidContextKeyHandling.Sanitize, 64)}"));
            foreach (var name in names.SelectMany(n => new[] { n, n + "_error", n + "_skipped" }))
            {
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(name);
                await channel.ExchangeDeleteAsync(name);
            }
            await using var last = await connection.CreateChannelAsync();
            await last.ExchangeDeleteAsync(queue + ".router");
        }

        [Fact]
        public async Task A_burst_of_2000_slow_messages_from_one_context_does_not_delay_the_quiet_ones_but_does_in_one_shared_queue()
        {
            var queue = Broker.UniqueQueue("ctx-iso");
            TimeSpan idle, contextualP99, sharedP99;
            var (provider, harness, log, routing) = await StartAsync(queue, contextual: true, q => q.Static("A", "B", "C"));
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(routing!.RouterAddress);
                await QuietP99Async(endpoint, log, 0, TimeSpan.FromSeconds(10)); // warm-up: connections, JIT
                idle = await QuietP99Async(endpoint, log, 500, TimeSpan.FromSeconds(10));
                await SendBurstAsync(endpoint);
                contextualP99 = await QuietP99Async(endpoint, log, 1_000, TimeSpan.FromSeconds(10));
                Assert.All(log.Done.Where(d => d.Tenant != "A"), d => Assert.Equal(routing.QueueOf(d.Tenant), d.Queue));
                Assert.All(new[] { "B", "C" }, t => Assert.NotEqual(queue, routing.QueueOf(t)));

                // Stopped: what A's burst left waits in A's queue; everything else was consumed.
                await harness.Stop();
                await new MessageAccount()
                    .Sent(3 * 2 * Quiet, "quiet (B and C, three rounds)")
                    .Sent(Burst, "A's burst")
                    .Consumed(log.Consumed, Expect.Any)
                    .Endpoint(routing.QueueOf("A"), Expect.Any)
                    .Endpoint(routing.QueueOf("B"), Expect.Empty)
                    .Endpoint(routing.QueueOf("C"), Expect.Empty)
                    .Endpoint(queue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                await harness.Stop();
                await provider.DisposeAsync();
                await DeleteAsync(queue, "A", "B", "C");
            }

            var shared = Broker.UniqueQueue("ctx-shared");
            (provider, harness, log, _) = await StartAsync(shared, contextual: false);
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"exchange:{shared}"));
                await SendBurstAsync(endpoint);
                // Behind the burst: Burst * Work / (3 * PerContext) ≈ 13 s, plus slack.
                sharedP99 = await QuietP99Async(endpoint, log, 1_000, Work * Burst / (3 * PerContext) * 2 + TimeSpan.FromSeconds(10));

                await harness.Stop();
                await new MessageAccount()
                    .Sent(2 * Quiet, "quiet (B and C)")
                    .Sent(Burst, "A's burst")
                    .Consumed(log.Consumed, Expect.Any)
                    .Endpoint(shared, Expect.Any)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                await harness.Stop();
                await provider.DisposeAsync();
                await DeleteAsync(shared);
            }

            TestContext.Current.TestOutputHelper?.WriteLine(
                $"quiet p99: idle {idle.TotalMilliseconds:0} ms, contextual during burst {contextualP99.TotalMilliseconds:0} ms, shared queue {sharedP99.TotalMilliseconds:0} ms");
            // Each quiet message has its own free slot, so during the burst it should cost what it costs idle: its
            // Work plus delivery. Allowed: the idle p99 (at least one Work) plus four Works of slack for a shared 2-core
            // machine busy with the burst's consumers. In one shared queue it waits behind the burst:
            // Burst * Work / (3 * PerContext) ≈ 13 s, far more than ten times that bound.
            var bound = (idle > Work ? idle : Work) + 4 * Work;
            Assert.True(contextualP99 <= bound, $"contextual quiet p99 {contextualP99.TotalMilliseconds:0} ms, bound {bound.TotalMilliseconds:0} ms");
            Assert.True(sharedP99 > 10 * bound, $"shared queue quiet p99 {sharedP99.TotalMilliseconds:0} ms should be far above {bound.TotalMilliseconds:0} ms");
        }

        [Fact]
        public async Task A_new_context_reaches_the_default_queue_through_the_alternate_exchange_and_retiring_its_queue_loses_nothing()
        {
            var queue = Broker.UniqueQueue("ctx-dyn");
            var (provider, harness, log, routing) = await StartAsync(queue, contextual: true);
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(routing!.RouterAddress);
                // No binding for "d" exists yet: the broker hands it to the default queue (no silent drop).
                await endpoint.Send(new TenantJob("d", 1));
                await Eventually.True(() => log.Count("d") == 1, TimeSpan.FromSeconds(10), "first message consumed");
                Assert.Equal(queue, log.Done.Single().Queue);
                Assert.True(await routing.WaitForQueueAsync("d", TimeSpan.FromSeconds(10)), "d got its queue");

                log.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                for (var i = 2; i <= 31; i++)
                    await endpoint.Send(new TenantJob("d", i));
                await Eventually.True(async () => await ReadyAsync($"{queue}.ctx.d") >= 30 - PerContext, TimeSpan.FromSeconds(10), "backlog on d's queue");
                var retire = routing.RetireAsync("d");
                // Unbound now or soon: these reach d's queue before the unbind, or the default queue after it. Never nowhere.
                for (var i = 32; i <= 61; i++)
                    await endpoint.Send(new TenantJob("d", i));
                Assert.False(retire.IsCompleted, "retirement waits for the backlog");
                log.Gate.SetResult();
                log.Gate = null;

                Assert.True(await retire.WaitAsync(TimeSpan.FromSeconds(30)), "d's queue retired");
                await Eventually.True(() => log.Count("d") >= 61, TimeSpan.FromSeconds(20), "all of d's messages consumed");
                Assert.Equal(Enumerable.Range(1, 61), log.Done.Select(d => d.Number).Order());
                Assert.All(log.Done.Where(d => d.Number is >= 2 and <= 31), d => Assert.Equal($"{queue}.ctx.d", d.Queue));
                Assert.Null(await ReadyAsync($"{queue}.ctx.d"));
                await new MessageAccount()
                    .Sent(61, "d's messages")
                    .Consumed(log.Consumed, Expect.Exactly(61))
                    .Endpoint(queue, Expect.Empty)
                    .Endpoint($"{queue}.ctx.d", Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await harness.Stop();
                await provider.DisposeAsync();
                await DeleteAsync(queue, "d");
            }
        }

        [Fact]
        public async Task Contexts_beyond_the_cap_are_bound_to_a_bucket_queue_and_an_idle_queue_retires_without_loss()
        {
            var queue = Broker.UniqueQueue("ctx-cap");
            var (provider, harness, log, routing) = await StartAsync(queue, contextual: true, q =>
            {
                q.Options.MaxContextQueues = 1;
                q.Options.BucketCount = 1;
                q.Options.IdleTimeout = TimeSpan.FromMilliseconds(500);
            });
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(routing!.RouterAddress);
                var n = 0;
                foreach (var tenant in new[] { "x", "y", "z" })
                {
                    await endpoint.Send(new TenantJob(tenant, ++n));
                    Assert.True(await routing.WaitForQueueAsync(tenant, TimeSpan.FromSeconds(10)), $"{tenant} got a queue or its bucket binding");
                }
                for (var i = 0; i < 10; i++)
                    foreach (var tenant in new[] { "x", "y", "z" })
                        await endpoint.Send(new TenantJob(tenant, ++n));
                var total = n;
                await Eventually.True(() => log.Done.Count >= total, TimeSpan.FromSeconds(20), "all consumed");
                Assert.Equal(Enumerable.Range(1, total), log.Done.Select(d => d.Number).Order());
                Assert.All(log.Done.Where(d => d.Number > 3), d => Assert.Equal(d.Tenant == "x" ? $"{queue}.ctx.x" : $"{queue}.bucket.0", d.Queue));

                // Idle: x's own queue retires (the bucket stays); the broker no longer has it.
                await Eventually.True(() => routing.ContextQueueCount == 0, TimeSpan.FromSeconds(20), "x's idle queue retired");
                Assert.Null(await ReadyAsync($"{queue}.ctx.x"));
                await endpoint.Send(new TenantJob("x", ++n));
                await Eventually.True(() => log.Done.Count >= n, TimeSpan.FromSeconds(10), "x after retirement consumed (default queue)");
                await new MessageAccount()
                    .Sent(n, "x, y and z's messages")
                    .Consumed(log.Consumed, Expect.Exactly(n))
                    .Endpoint(queue, Expect.Empty)
                    .Endpoint($"{queue}.ctx.x", Expect.Empty)
                    .Endpoint($"{queue}.ctx.y", Expect.Empty)
                    .Endpoint($"{queue}.ctx.z", Expect.Empty)
                    .Endpoint($"{queue}.bucket.0", Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await harness.Stop();
                await provider.DisposeAsync();
                await DeleteAsync(queue, "x", "y", "z");
                await DeleteAsync(queue + ".bucket.0");
            }
        }

        /// <summary>Ready messages in a queue, or null when it does not exist.</summary>
        static async Task<long?> ReadyAsync(string queue)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            try
            {
                return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
            }
            catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
            {
                return null;
            }
        }
    }
}
