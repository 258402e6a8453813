using System.Collections.Concurrent;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.RabbitMQ.Multibroker;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Multibroker.Messages
{
    public record Shipment(string Customer, int Number);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Multibroker
{
    using Messages;

    /// <summary>A broker of a test: where it listens and its name in the multibroker.</summary>
    public sealed record TestBroker(string Name, int Port, string UserName, string Password)
    {
        public Uri Address => new($"rabbitmq://127.0.0.1:{Port}/");

        public static TestBroker Shared(int node) =>
            new($"shared{node}", ServiceEnvironment.RabbitAmqpPorts[node], ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword);
    }

    /// <summary>Every shipment consumed, with the broker (by port) it came from.</summary>
    public sealed class ShipmentLog
    {
        readonly ConcurrentQueue<(Guid Id, int Port, string Customer, int Number)> _consumed = new();

        public TimeSpan Work { get; set; }

        public IReadOnlyList<(Guid Id, int Port, string Customer, int Number)> Consumed => _consumed.ToArray();

        public int Count => _consumed.Count;

        /// <summary>MassTransit leaves AMQP's default port out of its addresses.</summary>
        static int PortOf(Uri address) => address.Port > 0 ? address.Port : 5672;

        public async Task Record(ConsumeContext<Shipment> context)
        {
            if (Work > TimeSpan.Zero)
                await Task.Delay(Work, context.CancellationToken);
            _consumed.Enqueue((context.MessageId!.Value, PortOf(context.ReceiveContext.InputAddress), context.Message.Customer, context.Message.Number));
        }
    }

    public sealed class ShipmentConsumer(ShipmentLog log) : IConsumer<Shipment>
    {
        public Task Consume(ConsumeContext<Shipment> context) => log.Record(context);
    }

    /// <summary>A host with a multibroker over the given RabbitMQ brokers and one unique queue on each (deleted at the end).</summary>
    public sealed class MultibrokerRabbitKit : IAsyncDisposable
    {
        readonly IHost _host;

        MultibrokerRabbitKit(IHost host, string queue, TestBroker[] brokers)
        {
            _host = host;
            Queue = queue;
            Brokers = brokers;
        }

        public string Queue { get; }

        public Uri Address => new($"exchange:{Queue}");

        public TestBroker[] Brokers { get; }

        public IMultibroker Multibroker => _host.Services.GetRequiredService<IMultibroker>();

        public ShipmentLog Log => _host.Services.GetRequiredService<ShipmentLog>();

        public string BrokerNameOf(int port) => Brokers.Single(b => b.Port == port).Name;

        /// <summary>
        /// An account of the kit's messages: consumed by id (a message consumed twice shows as in consumed twice), and the
        /// kit's queue on every broker, with its siblings, empty.
        /// </summary>
        public MessageAccount Account(Expect consumed)
        {
            var account = new MessageAccount().Place("consumed", () => Log.Consumed.Select(c => c.Id).ToArray(), consumed);
            foreach (var b in Brokers)
            {
                var shared = Array.IndexOf(ServiceEnvironment.RabbitAmqpPorts, b.Port);
                account.Endpoint(Queue, Expect.Empty, shared >= 0 ? RabbitNode.Shared(shared) with { Name = b.Name } : RabbitNode.AmqpOnly(b.Name, b.Port, b.UserName, b.Password));
            }
            return account;
        }

        public static async Task<MultibrokerRabbitKit> StartAsync(TestBroker[] brokers, Action<IMultibrokerConfigurator>? configure = null,
            int concurrency = 16, TimeSpan work = default, int[]? weights = null)
        {
            var queue = Broker.UniqueQueue("mb");
            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Services.AddSingleton(new ShipmentLog { Work = work });
            builder.Services.AddMultibroker(x =>
            {
                x.Register(r => r.AddConsumer<ShipmentConsumer>().Endpoint(e =>
                {
                    e.Name = queue;
                    e.ConcurrentMessageLimit = concurrency;
                    e.PrefetchCount = concurrency;
                }));
                for (var i = 0; i < brokers.Length; i++)
                {
                    var b = brokers[i];
                    x.RabbitMqBroker(b.Name, b.Address, h =>
                    {
                        h.Username(b.UserName);
                        h.Password(b.Password);
                        h.RequestedConnectionTimeout(TimeSpan.FromSeconds(2));
                    }, weights?[i] ?? 1);
                }
                x.Options.MinimumBrokersAtStart = brokers.Length;
                configure?.Invoke(x);
            });
            var host = builder.Build();
            await host.StartAsync();
            return new MultibrokerRabbitKit(host, queue, brokers);
        }

        public async ValueTask DisposeAsync()
        {
            await _host.StopAsync();
            _host.Dispose();
            foreach (var b in Brokers)
            {
                try
                {
                    var factory = new ConnectionFactory { HostName = "127.0.0.1", Port = b.Port, UserName = b.UserName, Password = b.Password };
                    await using var connection = await factory.CreateConnectionAsync();
                    await using var channel = await connection.CreateChannelAsync();
                    await channel.QueueDeleteAsync(Queue);
                    await channel.ExchangeDeleteAsync(Queue);
                    await channel.ExchangeDeleteAsync($"{typeof(Shipment).Namespace}:{nameof(Shipment)}");
                }
                catch (Exception)
                {
                    // a throwaway node may be gone already: its data folder goes with it
                }
            }
        }
    }
}
