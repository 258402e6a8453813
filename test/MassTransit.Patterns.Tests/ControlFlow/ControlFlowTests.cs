using System.Diagnostics;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.Tests.ControlFlow.Messages
{
    public record Shipment(int Number);

    public record Invoice(int Number);
}

namespace MassTransit.Patterns.Tests.ControlFlow
{
    using Messages;

    public sealed class ControlFlowTests
    {
        sealed class Gate
        {
            public readonly TaskCompletionSource Open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        sealed class ShipmentConsumer(Gate gate) : IConsumer<Shipment>
        {
            public Task Consume(ConsumeContext<Shipment> context) => gate.Open.Task;
        }

        sealed class InvoiceConsumer : IConsumer<Invoice>
        {
            public Task Consume(ConsumeContext<Invoice> context) => Task.CompletedTask;
        }

        static FlowControlStateChanged Statement(string queue, FlowState state, TimeSpan? lease = null, long sequence = 1, params Type[] consumes) =>
            new(Guid.Empty, sequence, queue, state, 1234, 1000, 500, 5000, consumes.Select(MessageUrn.ForTypeString).ToArray(),
                DateTimeOffset.UtcNow + (lease ?? TimeSpan.FromMinutes(1)));

        static async Task<(ServiceProvider Provider, ITestHarness Harness, FlowControlStateStore Store)> StartProducerAsync(Action<ProducerControlFlowOptions> configure)
        {
            var open = new Gate();
            open.Open.SetResult();
            var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(open)
                .AddSingleton<FlowControlStateStore>()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddConsumer<ShipmentConsumer>().Endpoint(e => e.Name = "shipments");
                    x.AddConsumer<InvoiceConsumer>().Endpoint(e => e.Name = "invoices");
                    x.UsingInMemory((context, cfg) =>
                    {
                        cfg.UseProducerControlFlow(context, configure);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            return (provider, harness, provider.GetRequiredService<FlowControlStateStore>());
        }

        static async Task<ISendEndpoint> Endpoint(ITestHarness harness, string queue) => await harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));

        [Fact]
        public void Hysteresis_changes_state_only_when_a_mark_is_crossed()
        {
            var state = FlowState.Normal;
            var changes = 0;
            // Rise past high, wander between the marks, fall below low, wander again, then hit stop.
            long[] depths = [100, 900, 1000, 700, 999, 501, 800, 500, 600, 999, 700, 5000, 1200, 999, 400];
            FlowState[] expected =
            [
                FlowState.Normal, FlowState.Normal, FlowState.Slow, FlowState.Slow, FlowState.Slow, FlowState.Slow, FlowState.Slow, FlowState.Normal,
                FlowState.Normal, FlowState.Normal, FlowState.Normal, FlowState.Stop, FlowState.Stop, FlowState.Slow, FlowState.Normal
            ];
            for (var i = 0; i < depths.Length; i++)
            {
                var next = FlowStateRules.Next(state, depths[i], highWatermark: 1000, lowWatermark: 500, stopMark: 5000);
                if (next != state)
                    changes++;
                state = next;
                Assert.Equal(expected[i], state);
            }
            Assert.Equal(5, changes);
        }

        [Fact]
        public async Task Reject_throws_back_pressure_naming_the_queue_depth_and_mark_and_sends_nothing()
        {
            var (provider, harness, store) = await StartProducerAsync(o => o.WhenSlow = SlowAction.Reject);
            await using var _ = provider;
            store.Apply(Statement("shipments", FlowState.Slow));

            var endpoint = await Endpoint(harness, "shipments");
            var failure = await Assert.ThrowsAsync<BackPressureException>(() => endpoint.Send(new Shipment(1)));

            Assert.Equal("shipments", failure.Queue);
            Assert.Equal(FlowState.Slow, failure.State);
            Assert.Equal(1234, failure.Depth);
            Assert.Equal(1000, failure.Mark);
            Assert.Contains("shipments", failure.Message);
            Assert.False(await harness.Sent.Any<Shipment>(), "a rejected message is not sent");

            // Other queues are untouched.
            await (await Endpoint(harness, "invoices")).Send(new Invoice(1));
            await Eventually.True(async () => (await harness.Consumed.Now<Invoice>()).Count > 0, TimeSpan.FromSeconds(10), "an unthrottled queue's message is consumed");
        }

        [Fact]
        public async Task Delay_spaces_each_send_to_a_slowed_queue_by_the_configured_delay()
        {
            var delay = TimeSpan.FromMilliseconds(80);
            var (provider, harness, store) = await StartProducerAsync(o =>
            {
                o.WhenSlow = SlowAction.Delay;
                o.SlowDelay = delay;
            });
            await using var _ = provider;
            store.Apply(Statement("shipments", FlowState.Slow));
            var endpoint = await Endpoint(harness, "shipments");

            var watch = Stopwatch.StartNew();
            for (var i = 0; i < 5; i++)
                await endpoint.Send(new Shipment(i));

            Assert.True(watch.Elapsed >= delay * 5 - TimeSpan.FromMilliseconds(20), $"five delayed sends took {watch.Elapsed.TotalMilliseconds} ms");
            Assert.Equal(5, (await harness.Sent.Settled<Shipment>()).Count);
        }

        [Fact]
        public async Task Rate_limit_caps_sends_to_a_slowed_queue_at_the_configured_rate()
        {
            const double rate = 40;
            var (provider, harness, store) = await StartProducerAsync(o =>
            {
                o.WhenSlow = SlowAction.RateLimit;
                o.SlowRatePerSecond = rate;
            });
            await using var _ = provider;
            store.Apply(Statement("shipments", FlowState.Slow));
            var endpoint = await Endpoint(harness, "shipments");

            var watch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, 21).Select(i => endpoint.Send(new Shipment(i))));

            // 21 sends at 40/s need 20 intervals of 25 ms.
            var floor = TimeSpan.FromSeconds(20 / rate) - TimeSpan.FromMilliseconds(25);
            Assert.True(watch.Elapsed >= floor, $"21 rate-limited sends took {watch.Elapsed.TotalMilliseconds} ms, expected at least {floor.TotalMilliseconds}");
            Assert.Equal(21, (await harness.Sent.Settled<Shipment>()).Count);
        }

        [Fact]
        public async Task Wait_holds_a_send_until_the_queue_is_normal_again()
        {
            var (provider, harness, store) = await StartProducerAsync(o =>
            {
                o.WhenSlow = SlowAction.Wait;
                o.WhenStopped = StopAction.Wait;
            });
            await using var _ = provider;
            store.Apply(Statement("shipments", FlowState.Stop, sequence: 1));
            var endpoint = await Endpoint(harness, "shipments");

            var send = endpoint.Send(new Shipment(1));
            await Task.Delay(150);
            Assert.False(send.IsCompleted, "held while stopped");

            store.Apply(Statement("shipments", FlowState.Slow, sequence: 2));
            await Task.Delay(150);
            Assert.False(send.IsCompleted, "still held while slow (Wait waits for normal)");

            store.Apply(Statement("shipments", FlowState.Normal, sequence: 3));
            await send.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.True(await harness.Sent.Any<Shipment>());
        }

        [Fact]
        public async Task Wait_is_bounded_by_max_wait_then_rejects()
        {
            var maxWait = TimeSpan.FromMilliseconds(300);
            var (provider, harness, store) = await StartProducerAsync(o =>
            {
                o.WhenStopped = StopAction.Wait;
                o.MaxWait = maxWait;
            });
            await using var _ = provider;
            store.Apply(Statement("shipments", FlowState.Stop));
            var endpoint = await Endpoint(harness, "shipments");

            var watch = Stopwatch.StartNew();
            var failure = await Assert.ThrowsAsync<BackPressureException>(() => endpoint.Send(new Shipment(1)));

            Assert.True(watch.Elapsed >= maxWait - TimeSpan.FromMilliseconds(20), $"rejected after {watch.Elapsed.TotalMilliseconds} ms");
            Assert.Equal(FlowState.Stop, failure.State);
            Assert.Equal(5000, failure.Mark);
            // Held until just before the transport sends, then refused there: the harness records a faulted send, nothing left.
            Assert.False(await harness.Sent.Any<Shipment>(m => m.Exception is null), "a refused message is not sent");
            Assert.All(harness.Sent.Select<Shipment>(), m => Assert.IsType<BackPressureException>(m.Exception));
            Assert.False(await harness.Consumed.Any<Shipment>());
        }

        [Fact]
        public async Task A_publish_is_throttled_by_the_watched_queues_that_consume_its_type()
        {
            var (provider, harness, store) = await StartProducerAsync(o => o.WhenSlow = SlowAction.Reject);
            await using var _ = provider;
            store.Apply(Statement("shipments", FlowState.Slow, consumes: typeof(Shipment)));

            await Assert.ThrowsAsync<BackPressureException>(() => harness.Bus.Publish(new Shipment(1)));
            await harness.Bus.Publish(new Invoice(2));

            await Eventually.True(async () => (await harness.Consumed.Now<Invoice>()).Count > 0, TimeSpan.FromSeconds(10), "a type no watched queue consumes is published");
            Assert.False(await harness.Published.Any<Shipment>());
        }

        [Fact]
        public async Task An_older_statement_from_the_same_monitor_never_overrides_a_newer_one()
        {
            var store = new FlowControlStateStore();
            Assert.True(store.Apply(Statement("q", FlowState.Normal, sequence: 5)));
            Assert.False(store.Apply(Statement("q", FlowState.Stop, sequence: 4)));
            Assert.Equal(FlowState.Normal, store.Get("q").State);
            await Task.CompletedTask;
        }

        [Fact]
        public async Task When_the_monitor_dies_its_lease_expires_and_producers_resume()
        {
            // Long enough that a stalled poll on a loaded machine does not let the lease lapse while the monitor lives.
            var lease = TimeSpan.FromSeconds(2);
            var pollInterval = TimeSpan.FromMilliseconds(50);
            var gate = new Gate();
            using var host = Host.CreateDefaultBuilder()
                .ConfigureServices(s => s
                    .AddSingleton(gate)
                    .AddInMemoryQueueDepthProbe()
                    .AddQueueDepthMonitor(o => o.PollInterval = pollInterval)
                    .AddFlowMonitor(o =>
                    {
                        o.Lease = lease;
                        o.PublishToBus = false;
                        o.Watch("shipments", highWatermark: 20, lowWatermark: 5);
                    })
                    .AddMassTransit(x =>
                    {
                        x.AddConsumer<ShipmentConsumer>().Endpoint(e =>
                        {
                            e.Name = "shipments";
                            e.ConcurrentMessageLimit = 1;
                        });
                        x.UsingInMemory((context, cfg) =>
                        {
                            cfg.UseProducerControlFlow(context, o => o.WhenSlow = SlowAction.Reject);
                            cfg.ConfigureEndpoints(context);
                        });
                    }))
                .Build();
            await host.StartAsync();
            // Held consumers must be released whatever the assertions do, or stopping the host waits on them forever.
            using var release = new CancellationTokenSource();
            await using var _ = release.Token.Register(() => gate.Open.TrySetResult());
            try
            {
                var bus = host.Services.GetRequiredService<IBus>();
                var endpoint = await bus.GetSendEndpoint(new Uri("queue:shipments"));
                var monitor = host.Services.GetRequiredService<FlowMonitor>();

                // Fill past the high watermark (the consumer is held), until the monitor slows the queue.
                var sent = 0;
                for (; sent < 25; sent++)
                    await endpoint.Send(new Shipment(sent));
                await Eventually.True(() => monitor.StateOf("shipments") == FlowState.Slow, TimeSpan.FromSeconds(5), "the monitor slows the queue");
                await Assert.ThrowsAsync<BackPressureException>(() => endpoint.Send(new Shipment(99)));

                // The monitor dies without a word; the queue is still full.
                await monitor.StopAsync(CancellationToken.None);
                var lastStatement = host.Services.GetRequiredService<FlowControlStateStore>().Get("shipments").Statement;
                Assert.NotNull(lastStatement);
                Assert.Equal(FlowState.Slow, lastStatement.State);
                DateTimeOffset? resumedAt = null;
                await Eventually.True(async () =>
                {
                    try
                    {
                        await endpoint.Send(new Shipment(100));
                        resumedAt = DateTimeOffset.UtcNow;
                        return true;
                    }
                    catch (BackPressureException)
                    {
                        return false;
                    }
                }, lease + TimeSpan.FromSeconds(3), "producers resume once the lease runs out");
                Assert.True(resumedAt >= lastStatement.LeaseExpiresAt,
                    $"producers resumed at {resumedAt:O}, before the last statement's lease ran out at {lastStatement.LeaseExpiresAt:O}");

            }
            finally
            {
                gate.Open.TrySetResult();
            }
            await host.StopAsync();
        }

        [Fact]
        public async Task Watermarks_that_would_flap_fail_start_up_naming_the_option()
        {
            using var host = Host.CreateDefaultBuilder()
                .ConfigureServices(s => s
                    .AddSingleton<IQueueDepthProbe>(new InMemory.ThrowingProbe())
                    .AddFlowMonitor(o => o.Watch("orders", highWatermark: 100, lowWatermark: 100)))
                .Build();

            var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

            Assert.Contains("FlowMonitorOptions.Queues[orders].LowWatermark must be below HighWatermark", failure.Message);
        }
    }
}

namespace MassTransit.Patterns.Tests.ControlFlow.InMemory
{
    sealed class ThrowingProbe : IQueueDepthProbe
    {
        public string Name => "throwing";
        public bool KnowsUnacknowledged => false;

        public Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("not used");
    }
}
