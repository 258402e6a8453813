using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding.Messages
{
    public record Shipment(int Number);

    public record ShipmentNoticed(int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding
{
    using Messages;

    /// <summary>
    /// <c>UseEventForwarding</c> on the real broker: the start-up check refuses settings that lose
    /// messages, the send guard refuses non-persistent or unconfirmed sends, and a send that no queue
    /// receives is returned instead of confirmed and dropped.
    /// </summary>
    public sealed class EventForwardingOnRabbitMqTests
    {
        sealed class ShipmentConsumer : IConsumer<Shipment>
        {
            public Task Consume(ConsumeContext<Shipment> context) => Task.CompletedTask;
        }

        static ServiceProvider Build(Action<IRabbitMqBusFactoryConfigurator, IBusRegistrationContext> configure, Action<EventForwardingOptions>? options = null,
            Action<IRabbitMqHostConfigurator>? host = null, Action<IBusRegistrationConfigurator>? registration = null) =>
            new ServiceCollection()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddEventForwarding(o =>
                    {
                        o.SendTimeout = TimeSpan.FromSeconds(5);
                        o.ResendLimit = 1;
                        o.ResendInterval = TimeSpan.FromMilliseconds(50);
                        options?.Invoke(o);
                    });
                    registration?.Invoke(x);
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                            host?.Invoke(h);
                        });
                        configure(cfg, context);
                    });
                })
                .BuildServiceProvider(true);

        static async Task DeleteAsync(params string[] queues)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            foreach (var name in queues)
            {
                await channel.QueueDeleteAsync(name);
                await channel.ExchangeDeleteAsync(name);
            }
        }

        [Fact]
        public async Task Publisher_confirms_turned_off_fail_the_bus_start_naming_the_setting()
        {
            await using var provider = Build((cfg, context) => cfg.UseEventForwarding(context), host: h => h.PublisherConfirmation = false);

            var failure = await Assert.ThrowsAsync<EventForwardingViolationException>(() => provider.GetRequiredService<ITestHarness>().Start());

            var violation = Assert.Single(failure.Violations);
            Assert.Contains("PublisherConfirmation = false", violation.Setting);
        }

        [Fact]
        public async Task Queues_that_lose_messages_fail_the_start_and_only_warn_when_told_to()
        {
            var lossy = Broker.UniqueQueue("fwd-lossy");
            var durable = Broker.UniqueQueue("fwd-durable");
            foreach (var action in new[] { EventForwardingViolationAction.Fail, EventForwardingViolationAction.Warn })
            {
                EventForwardingStartupCheck? check = null;
                await using var provider = Build((cfg, context) =>
                {
                    cfg.UseEventForwarding(context);
                    check = context.GetRequiredService<EventForwardingStartupCheck>();
                    cfg.ReceiveEndpoint(lossy, e =>
                    {
                        e.AutoDelete = true;
                        e.Durable = false;
                        e.PurgeOnStartup = true;
                        e.SetQueueArgument("x-max-length", 10);
                        e.Consumer<ShipmentConsumer>();
                    });
                    cfg.ReceiveEndpoint(durable, e => e.Consumer<ShipmentConsumer>());
                }, o => o.OnViolation = action);
                var harness = provider.GetRequiredService<ITestHarness>();
                try
                {
                    if (action == EventForwardingViolationAction.Fail)
                        await Assert.ThrowsAsync<EventForwardingViolationException>(() => harness.Start());
                    else
                        await harness.Start();

                    var settings = check!.Violations.Select(v => v.Setting).ToList();
                    Assert.Equal(
                        [$"endpoint {lossy}: Durable = false", $"endpoint {lossy}: AutoDelete = true", $"endpoint {lossy}: PurgeOnStartup = true", $"endpoint {lossy}: x-max-length"],
                        settings);
                }
                finally
                {
                    await harness.Stop();
                }
            }
            await DeleteAsync(lossy, durable);
        }

        [Fact]
        public async Task A_send_or_publish_made_non_persistent_is_refused_before_it_reaches_the_broker()
        {
            var queue = Broker.UniqueQueue("fwd-guard");
            await using var provider = Build((cfg, context) =>
            {
                cfg.UseEventForwarding(context);
                cfg.ReceiveEndpoint(queue, e => e.Consumer<ShipmentConsumer>());
            });
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            try
            {
                var endpoint = await harness.Bus.GetSendEndpoint(new Uri($"exchange:{queue}"));

                var send = await Assert.ThrowsAsync<EventForwardingViolationException>(() => endpoint.Send(new Shipment(1), c => c.Durable = false));
                var publish = await Assert.ThrowsAsync<EventForwardingViolationException>(() =>
                    harness.Bus.Publish(new ShipmentNoticed(1), c => c.SetAwaitAck(false)));

                Assert.Contains("Durable = false", Assert.Single(send.Violations).Setting);
                Assert.Contains("AwaitAck = false", Assert.Single(publish.Violations).Setting);
                await endpoint.Send(new Shipment(2));
                Assert.True(await harness.Consumed.Any<Shipment>(x => x.Context.Message.Number == 2));
                Assert.Empty(await harness.Consumed.Settled<Shipment>(x => x.Context.Message.Number == 1));
                await new MessageAccount()
                    .Sent(3, "a non-persistent send, an unconfirmed publish, a plain send")
                    .Place("refused before the broker", () => new[] { send, publish }.Sum(f => f.Violations.Count), Expect.Exactly(2))
                    .Place("consumed", async _ => PlaceReading.Of((await harness.Consumed.Now<Shipment>()).Select(c => c.Context.MessageId!.Value).ToArray()), Expect.Exactly(1))
                    .Endpoint(queue, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await harness.Stop();
                await DeleteAsync(queue);
            }
        }

        [Fact]
        public async Task A_send_no_queue_receives_is_returned_instead_of_confirmed_while_a_publish_without_subscribers_is_fine()
        {
            var nowhere = Broker.UniqueQueue("fwd-nowhere");
            await using var provider = Build((cfg, context) => cfg.UseEventForwarding(context));
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            try
            {
                var forwarder = provider.GetRequiredService<IEventForwarder>();

                var failure = await Assert.ThrowsAsync<MessageNotConfirmedException>(() => forwarder.Send(new Uri($"exchange:{nowhere}"), new Shipment(3)));
                await forwarder.Publish(new ShipmentNoticed(3));
                // What an outbox delivers for a publish: a send to the message type's exchange, which stays a publish (not mandatory).
                await forwarder.Send(new Uri($"exchange:{typeof(ShipmentNoticed).Namespace}:{nameof(ShipmentNoticed)}"), new ShipmentNoticed(4));

                Assert.Equal(2, failure.Attempts);
                Assert.IsType<MessageReturnedException>(failure.InnerException);
                await new MessageAccount()
                    .Sent(3, "a send no queue receives, a publish and a send to the message type's exchange")
                    .Place("returned to the sender, not confirmed", () => failure.InnerException is MessageReturnedException ? 1 : 0, Expect.Exactly(1))
                    .Unrouted($"{typeof(ShipmentNoticed).Namespace}:{nameof(ShipmentNoticed)}", 2)
                    .Endpoint(nowhere, Expect.Empty)
                    .AssertAllAccountedAsync(TimeSpan.FromSeconds(15));
            }
            finally
            {
                await harness.Stop();
                await DeleteAsync(nowhere);
            }
        }

        [Fact]
        public async Task Quorum_queues_are_declared_when_asked_for()
        {
            var queue = Broker.UniqueQueue("fwd-quorum");
            await using var provider = Build((cfg, context) =>
                {
                    cfg.UseEventForwarding(context, r => r.QuorumQueues = true);
                    cfg.ConfigureEndpoints(context);
                },
                registration: x => x.AddConsumer<ShipmentConsumer>().Endpoint(e => e.Name = queue));
            var harness = provider.GetRequiredService<ITestHarness>();
            try
            {
                await harness.Start();
                using var http = new HttpClient { BaseAddress = ServiceEnvironment.RabbitManagementUri };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                    Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
                using var document = JsonDocument.Parse(await http.GetStringAsync($"api/queues/%2F/{queue}"));

                Assert.Equal("quorum", document.RootElement.GetProperty("type").GetString());
                Assert.True(document.RootElement.GetProperty("durable").GetBoolean());
            }
            finally
            {
                await harness.Stop();
                await DeleteAsync(queue);
            }
        }
    }
}
