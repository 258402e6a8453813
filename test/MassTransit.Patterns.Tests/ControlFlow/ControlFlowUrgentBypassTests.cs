using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.ControlFlow.UrgentMessages
{
    /// <summary>A parcel; negative numbers are urgent by the bus's predicate.</summary>
    public record Parcel(int Number);
}

namespace MassTransit.Patterns.Tests.ControlFlow
{
    using UrgentMessages;

    /// <summary>
    /// Producer control flow beside an ambulance lane: an urgent message is bound for the lane, which the monitor does not
    /// count for the queue, so the queue's Slow/Stop state does not hold it (<see cref="ProducerControlFlowOptions.UrgentBypass"/>),
    /// however it was marked and whichever pattern was configured first; with the bypass off it is held like any other.
    /// </summary>
    public sealed class ControlFlowUrgentBypassTests
    {
        /// <summary>How the message is marked urgent.</summary>
        public enum Mark
        {
            /// <summary><c>ctx.SetUrgent()</c> in the send callback (runs after the configured send pipe).</summary>
            Callback,

            /// <summary>The ambulance predicate <c>a.Urgent&lt;Parcel&gt;(p =&gt; p.Number &lt; 0)</c> (runs in the ambulance send filter).</summary>
            Predicate
        }

        sealed class ParcelConsumer(ConcurrentDictionary<Guid, string> consumed) : IConsumer<Parcel>
        {
            public Task Consume(ConsumeContext<Parcel> context)
            {
                consumed[context.MessageId!.Value] = context.ReceiveContext.InputAddress.GetEndpointName() ?? "";
                return Task.CompletedTask;
            }
        }

        static FlowControlStateChanged Statement(string queue, FlowState state, params Type[] consumes) =>
            new(Guid.Empty, 1, queue, state, 1234, 1000, 500, 5000, consumes.Select(MessageUrn.ForTypeString).ToArray(),
                DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1));

        static async Task<(ServiceProvider Provider, ITestHarness Harness, FlowControlStateStore Store, ConcurrentDictionary<Guid, string> Consumed)> StartAsync(
            string queue, bool controlFlowFirst, Action<ProducerControlFlowOptions> configure)
        {
            var consumed = new ConcurrentDictionary<Guid, string>();
            var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(consumed)
                .AddSingleton<FlowControlStateStore>()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddConsumer<ParcelConsumer>().Endpoint(e => e.Name = queue);
                    x.UsingInMemory((context, cfg) =>
                    {
                        void Lane() => cfg.UseAmbulanceLane(context, a => a.Urgent<Parcel>(p => p.Number < 0).Endpoint(queue));
                        if (!controlFlowFirst)
                            Lane();
                        cfg.UseProducerControlFlow(context, configure);
                        if (controlFlowFirst)
                            Lane();
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            return (provider, harness, provider.GetRequiredService<FlowControlStateStore>(), consumed);
        }

        static Task SendAsync(ISendEndpoint endpoint, Guid id, int number, Mark mark, bool urgent) =>
            endpoint.Send(new Parcel(urgent && mark == Mark.Predicate ? -number : number), c =>
            {
                c.MessageId = id;
                if (urgent && mark == Mark.Callback)
                    c.SetUrgent();
            });

        /// <summary>Counts <c>control_flow.urgent_bypassed</c> for one queue.</summary>
        sealed class BypassCounter : IDisposable
        {
            readonly MeterListener _listener = new();
            long _count;

            public BypassCounter(string queue)
            {
                _listener.InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Name.EndsWith("control_flow.urgent_bypassed", StringComparison.Ordinal))
                        listener.EnableMeasurementEvents(instrument);
                };
                _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
                {
                    foreach (var tag in tags)
                        if (tag.Value is string q && q == queue)
                            Interlocked.Add(ref _count, value);
                });
                _listener.Start();
            }

            public long Count => Interlocked.Read(ref _count);

            public void Dispose() => _listener.Dispose();
        }

        [Theory]
        [InlineData(true, Mark.Callback, FlowState.Stop)]
        [InlineData(true, Mark.Predicate, FlowState.Stop)]
        [InlineData(false, Mark.Callback, FlowState.Stop)]
        [InlineData(false, Mark.Predicate, FlowState.Stop)]
        [InlineData(true, Mark.Predicate, FlowState.Slow)]
        [InlineData(false, Mark.Callback, FlowState.Slow)]
        public async Task An_urgent_send_is_not_held_by_the_queues_state_while_a_normal_one_is(bool controlFlowFirst, Mark mark, FlowState state)
        {
            var queue = $"parcels-{Guid.NewGuid():N}"[..20];
            using var bypasses = new BypassCounter(queue);
            var maxWait = TimeSpan.FromSeconds(1);
            var (provider, harness, store, consumed) = await StartAsync(queue, controlFlowFirst, o =>
            {
                o.WhenSlow = SlowAction.Wait;
                o.WhenStopped = StopAction.Wait;
                o.MaxWait = maxWait; // a held send is refused after 1 s: an urgent send that was held fails the test
            });
            await using var _ = provider;
            store.Apply(Statement(queue, state));
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));

            var normalId = Guid.NewGuid();
            var urgentId = Guid.NewGuid();
            var normal = SendAsync(endpoint, normalId, 1, mark, urgent: false);
            await SendAsync(endpoint, urgentId, 2, mark, urgent: true); // returns at once (a held one throws BackPressureException after MaxWait)

            await Eventually.True(() => consumed.ContainsKey(urgentId), TimeSpan.FromSeconds(10), "the urgent parcel is consumed");
            Assert.Equal($"{queue}_lane", consumed[urgentId]);
            Assert.Equal(1, bypasses.Count);

            // The normal send is still held by the queue's state: refused after MaxWait, never sent (its caller still has it).
            var refused = await Assert.ThrowsAsync<BackPressureException>(() => normal);
            Assert.Equal(state, refused.State);
            Assert.False(await harness.Sent.Any<Parcel>(m => m.Context.MessageId == normalId && m.Exception is null), "refused, not sent");
            Assert.Equal([urgentId], consumed.Keys.ToArray());
        }

        [Theory]
        [InlineData(true, Mark.Callback)]
        [InlineData(false, Mark.Predicate)]
        public async Task With_UrgentBypass_false_an_urgent_send_is_held_like_any_other(bool controlFlowFirst, Mark mark)
        {
            var queue = $"parcels-{Guid.NewGuid():N}"[..20];
            using var bypasses = new BypassCounter(queue);
            var maxWait = TimeSpan.FromMilliseconds(500);
            var (provider, harness, store, consumed) = await StartAsync(queue, controlFlowFirst, o =>
            {
                o.UrgentBypass = false;
                o.WhenStopped = StopAction.Wait;
                o.MaxWait = maxWait;
            });
            await using var _ = provider;
            store.Apply(Statement(queue, FlowState.Stop));
            var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));

            var urgentId = Guid.NewGuid();
            var started = System.Diagnostics.Stopwatch.StartNew();
            var refused = await Assert.ThrowsAsync<BackPressureException>(() => SendAsync(endpoint, urgentId, 1, mark, urgent: true));

            Assert.True(started.Elapsed >= maxWait - TimeSpan.FromMilliseconds(20), $"held {started.Elapsed.TotalMilliseconds} ms before the refusal");
            Assert.Equal(FlowState.Stop, refused.State);
            Assert.False(await harness.Sent.Any<Parcel>(m => m.Context.MessageId == urgentId && m.Exception is null), "refused, not sent");
            Assert.Empty(consumed);
            Assert.Equal(0, bypasses.Count);
        }

        [Fact]
        public async Task An_urgent_publish_is_not_held_by_the_watched_queues_that_consume_its_type()
        {
            var queue = $"parcels-{Guid.NewGuid():N}"[..20];
            using var bypasses = new BypassCounter(queue);
            var (provider, harness, store, consumed) = await StartAsync(queue, controlFlowFirst: true, o =>
            {
                o.WhenStopped = StopAction.Wait;
                o.MaxWait = TimeSpan.FromSeconds(1);
            });
            await using var _ = provider;
            store.Apply(Statement(queue, FlowState.Stop, typeof(Parcel)));

            var urgentId = Guid.NewGuid();
            await harness.Bus.Publish(new Parcel(-1), c => c.MessageId = urgentId);

            await Eventually.True(() => consumed.ContainsKey(urgentId), TimeSpan.FromSeconds(10), "the urgent parcel is consumed");
            Assert.Equal($"{queue}_lane", consumed[urgentId]);
            Assert.Equal(1, bypasses.Count);
            await Assert.ThrowsAsync<BackPressureException>(() => harness.Bus.Publish(new Parcel(1)));
            Assert.Equal([urgentId], consumed.Keys.ToArray());
        }
    }
}
