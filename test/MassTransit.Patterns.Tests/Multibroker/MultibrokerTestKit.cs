using System.Collections.Concurrent;
using MassTransit.Patterns.Multibroker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Tests.Multibroker.Messages
{
    public record Order(string Customer, int Number);

    public record OrderPlaced(string Customer, int Number);

    public record PriceQuery(string Sku);

    public record PriceQuote(string Sku, decimal Price, string AnsweredBy);

    public record Explode(int Number);

    public record TallyEvent(Guid CorrelationId, int Number);
}

namespace MassTransit.Patterns.Tests.Multibroker.Sagas
{
    using Messages;

    public sealed class TallyState : SagaStateMachineInstance
    {
        public Guid CorrelationId { get; set; }

        public string CurrentState { get; set; } = "";

        public int Count { get; set; }

        public List<string> Brokers { get; set; } = [];
    }

    /// <summary>Counts the events of one correlation id, and the brokers they came through.</summary>
    public sealed class TallyStateMachine : MassTransitStateMachine<TallyState>
    {
        public TallyStateMachine()
        {
            InstanceState(x => x.CurrentState);
            Event(() => Tallied, e => e.CorrelateById(c => c.Message.CorrelationId));
            Initially(When(Tallied).Then(Count).TransitionTo(Active));
            During(Active, When(Tallied).Then(Count));
        }

        /// <summary>What each instance has counted, as it counts (for the tests to read).</summary>
        public static readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, (int Count, string[] Brokers)> Seen = new();

        static void Count(BehaviorContext<TallyState, TallyEvent> context)
        {
            context.Saga.Count++;
            context.Saga.Brokers.Add(context.ReceiveContext.InputAddress.Host);
            Seen[context.Saga.CorrelationId] = (context.Saga.Count, context.Saga.Brokers.ToArray());
        }

        public State Active { get; private set; } = null!;

        public Event<TallyEvent> Tallied { get; private set; } = null!;
    }
}

namespace MassTransit.Patterns.Tests.Multibroker
{
    using Messages;

    public sealed record Seen(string Broker, Guid? MessageId, string Customer, int Number, int Failover);

    /// <summary>Every message each consumer saw, with the broker it came through (the in-memory broker's host name).</summary>
    public sealed class Recorder
    {
        readonly ConcurrentQueue<Seen> _orders = new();
        readonly ConcurrentQueue<Seen> _placed = new();
        readonly ConcurrentQueue<(string Broker, int Number)> _faults = new();

        public IReadOnlyList<Seen> Orders => _orders.ToArray();

        public IReadOnlyList<Seen> Placed => _placed.ToArray();

        public IReadOnlyList<(string Broker, int Number)> Faults => _faults.ToArray();

        public static string BrokerOf(ConsumeContext context) => context.ReceiveContext.InputAddress.Host;

        public void Order(ConsumeContext<Order> context) =>
            _orders.Enqueue(new Seen(BrokerOf(context), context.MessageId, context.Message.Customer, context.Message.Number,
                context.Headers.Get<int>("MT-Multibroker-Failover") ?? 0));

        public void OrderPlaced(ConsumeContext<OrderPlaced> context) =>
            _placed.Enqueue(new Seen(BrokerOf(context), context.MessageId, context.Message.Customer, context.Message.Number, 0));

        public void Fault(ConsumeContext<Fault<Explode>> context) => _faults.Enqueue((BrokerOf(context), context.Message.Message.Number));
    }

    public sealed class OrderConsumer(Recorder recorder) : IConsumer<Order>
    {
        public Task Consume(ConsumeContext<Order> context)
        {
            recorder.Order(context);
            return Task.CompletedTask;
        }
    }

    public sealed class OrderPlacedConsumer(Recorder recorder) : IConsumer<OrderPlaced>
    {
        public Task Consume(ConsumeContext<OrderPlaced> context)
        {
            recorder.OrderPlaced(context);
            return Task.CompletedTask;
        }
    }

    public sealed class PriceConsumer : IConsumer<PriceQuery>
    {
        public Task Consume(ConsumeContext<PriceQuery> context) =>
            context.RespondAsync(new PriceQuote(context.Message.Sku, 9.5m, Recorder.BrokerOf(context)));
    }

    public sealed class ExplodeConsumer : IConsumer<Explode>
    {
        public Task Consume(ConsumeContext<Explode> context) => throw new InvalidOperationException("boom " + context.Message.Number);
    }

    public sealed class ExplodeFaultConsumer(Recorder recorder) : IConsumer<Fault<Explode>>
    {
        public Task Consume(ConsumeContext<Fault<Explode>> context)
        {
            recorder.Fault(context);
            return Task.CompletedTask;
        }
    }

    /// <summary>A host with a multibroker over in-memory brokers named b0, b1...</summary>
    public sealed class MultibrokerKit : IAsyncDisposable
    {
        public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

        public const string OrdersQueue = "multibroker-orders";

        public static readonly Uri Orders = new("queue:" + OrdersQueue);

        readonly IHost _host;

        MultibrokerKit(IHost host, InMemoryMultibrokerTransport[] transports)
        {
            _host = host;
            Transports = transports;
        }

        public IServiceProvider Services => _host.Services;

        public IMultibroker Multibroker => _host.Services.GetRequiredService<IMultibroker>();

        public Recorder Recorder => _host.Services.GetRequiredService<Recorder>();

        public InMemoryMultibrokerTransport[] Transports { get; }

        public MultibrokerBroker Broker(int i) => Multibroker.Brokers[i];

        /// <summary>Runs one health check now, as the periodic check would.</summary>
        public void CheckHealth() => _host.Services.GetRequiredService<MultibrokerRuntime>().CheckHealth();

        public static async Task<MultibrokerKit> StartAsync(int brokers, Action<IMultibrokerConfigurator>? configure = null,
            Action<IBusRegistrationConfigurator>? register = null, int[]? weights = null, string prefix = "b")
        {
            var transports = Enumerable.Range(0, brokers).Select(_ => new InMemoryMultibrokerTransport()).ToArray();
            var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Services.AddSingleton<Recorder>();
            builder.Services.AddMultibroker(x =>
            {
                x.Register(r =>
                {
                    // One at a time: per-key order is kept by the broker and shown only by an ordered consumer.
                    r.AddConsumer<OrderConsumer>().Endpoint(e =>
                    {
                        e.Name = OrdersQueue;
                        e.ConcurrentMessageLimit = 1;
                    });
                    r.AddConsumer<OrderPlacedConsumer>().Endpoint(e => e.Name = "multibroker-placed");
                    r.AddConsumer<PriceConsumer>().Endpoint(e => e.Name = "multibroker-price");
                    r.AddConsumer<ExplodeConsumer>().Endpoint(e => e.Name = "multibroker-explode");
                    r.AddConsumer<ExplodeFaultConsumer>().Endpoint(e => e.Name = "multibroker-explode-fault");
                    register?.Invoke(r);
                });
                for (var i = 0; i < brokers; i++)
                    x.Broker($"{prefix}{i}", transports[i], weights?[i] ?? 1);
                x.Options.MinimumBrokersAtStart = brokers;
                x.Options.HealthCheckInterval = TimeSpan.FromMilliseconds(50);
                x.Options.EjectionTime = TimeSpan.FromMilliseconds(200);
                x.Options.SendTimeout = TimeSpan.FromSeconds(5);
                // A send paused 500 ms by a busy test machine would be hedged (and its broker ejected): tests of hedging set their own.
                x.Options.HedgeDelay = TimeSpan.FromSeconds(2);
                configure?.Invoke(x);
            });
            var host = builder.Build();
            await host.StartAsync();
            return new MultibrokerKit(host, transports);
        }

        public async ValueTask DisposeAsync()
        {
            await _host.StopAsync();
            _host.Dispose();
        }
    }
}
