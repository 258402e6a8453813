using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.ControlFlow.Contracts;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Tests.ControlFlow.FanOut
{
    public record Parcel(int Number);
}

namespace MassTransit.Patterns.Tests.ControlFlow
{
    using FanOut;

    /// <summary>
    /// A publish is one message to every subscriber of its type: held for a slowed queue, it is held
    /// for all of them. The producer is told once per type and queue (a warning naming both and the
    /// way out: a send, held by its destination's state only), not left to find out from its rates.
    /// </summary>
    public sealed class ControlFlowFanOutTests
    {
        const string Throttled = "parcels";
        const string Unthrottled = "parcel-audit";
        static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

        sealed class ParcelConsumer : IConsumer<Parcel>
        {
            public Task Consume(ConsumeContext<Parcel> context) => Task.CompletedTask;
        }

        sealed class ParcelAuditConsumer : IConsumer<Parcel>
        {
            public Task Consume(ConsumeContext<Parcel> context) => Task.CompletedTask;
        }

        [Fact]
        public async Task A_publish_held_for_one_subscriber_holds_them_all_and_warns_once_naming_the_type_the_queue_and_the_send_alternative()
        {
            await using var provider = new ServiceCollection()
                .AddMetrics()
                .AddSingleton<FlowControlStateStore>()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddConsumer<ParcelConsumer>().Endpoint(e => e.Name = Throttled);
                    x.AddConsumer<ParcelAuditConsumer>().Endpoint(e => e.Name = Unthrottled);
                    x.UsingInMemory((context, cfg) =>
                    {
                        cfg.UseProducerControlFlow(context, o => o.WhenSlow = SlowAction.Reject);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .Apply(CapturedLogs.Use)
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            try
            {
                var store = provider.GetRequiredService<FlowControlStateStore>();
                store.Apply(new FlowControlStateChanged(Guid.NewGuid(), 1, Throttled, FlowState.Slow, 1234, 1000, 500, null,
                    [MessageUrn.ForTypeString<Parcel>()], DateTimeOffset.UtcNow.AddMinutes(1)));
                var mark = CapturedLogs.Instance.Mark();

                // Two publishes refused for the slowed queue: the unthrottled subscriber gets neither.
                var first = await Assert.ThrowsAsync<BackPressureException>(() => harness.Bus.Publish(new Parcel(1)));
                await Assert.ThrowsAsync<BackPressureException>(() => harness.Bus.Publish(new Parcel(2)));
                Assert.Equal(Throttled, first.Queue);

                // A send is held by its destination's state only: the unthrottled queue gets it at once.
                await (await harness.Bus.GetSendEndpoint(new Uri($"queue:{Unthrottled}"))).Send(new Parcel(3));
                await Eventually.True(async () => (await harness.Consumed.Now<Parcel>(p => p.Context.Message.Number == 3)).Count > 0, Wait, "the send to the unthrottled queue is consumed");

                // Every message accounted for: 1 and 2 refused (never published), 3 consumed once, by the audit consumer.
                Assert.False(await harness.Published.Any<Parcel>(), "a refused publish reaches no subscriber");
                Assert.Equal([3], (await harness.Consumed.Settled<Parcel>()).Select(p => p.Context.Message.Number).ToList());
                Assert.Single(await harness.GetConsumerHarness<ParcelAuditConsumer>().Consumed.Settled<Parcel>());
                Assert.Empty(await harness.GetConsumerHarness<ParcelConsumer>().Consumed.Settled<Parcel>());

                var warnings = CapturedLogs.Instance.Since(mark).Where(e => e is { Level: LogLevel.Warning } && e.Category.EndsWith(nameof(ProducerControlFlowGate))).ToList();
                var warning = Assert.Single(warnings);
                Assert.Contains(typeof(Parcel).FullName!, warning.Message);
                Assert.Contains(Throttled, warning.Message);
                Assert.Contains("every subscriber", warning.Message);
                Assert.Contains("send", warning.Message);
            }
            finally
            {
                await harness.Stop();
            }
        }
    }

    static class ServiceCollectionTestExtensions
    {
        public static IServiceCollection Apply(this IServiceCollection services, Action<IServiceCollection> configure)
        {
            configure(services);
            return services;
        }
    }
}
