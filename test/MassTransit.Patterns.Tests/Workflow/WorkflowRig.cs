using System.Collections.Concurrent;
using System.Net.Mime;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Serialization;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Workflow.Messages
{
    public record PlaceOrder(Guid OrderId, int Quantity, string? Currency);
}

namespace MassTransit.Patterns.Tests.Workflow
{
    using Messages;

    public sealed class InvalidOrderException(string message) : Exception(message);

    /// <summary>What the consumer saw: successful processing counted by original message id.</summary>
    public sealed class OrderLedger
    {
        public readonly ConcurrentDictionary<Guid, int> Processed = new();
        public readonly ConcurrentDictionary<Guid, int> TransientFailures = new();
        public readonly ConcurrentQueue<Guid> Sequence = new();
        public int FailTransientlyTimes;

        /// <summary>The transient failure thrown (default a plain <see cref="TimeoutException"/>).</summary>
        public Func<Exception>? TransientFailure;

        /// <summary>When set, the consumer signals it and waits until the consume context's token is cancelled (a bus stopping).</summary>
        public TaskCompletionSource? WaitForShutdown;

        public int ProcessedCount(Guid id) => Processed.TryGetValue(id, out var n) ? n : 0;
    }

    /// <summary>Rejects orders without a currency or with a quantity below one; fails transiently first when asked.</summary>
    public sealed class OrderConsumer(OrderLedger ledger) : IConsumer<PlaceOrder>
    {
        public async Task Consume(ConsumeContext<PlaceOrder> context)
        {
            if (ledger.WaitForShutdown is { } started)
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            var id = context.GetWorkflowOriginalMessageId()!.Value;
            if (ledger.FailTransientlyTimes > 0 && ledger.TransientFailures.AddOrUpdate(id, 1, (_, n) => n + 1) <= ledger.FailTransientlyTimes)
                throw ledger.TransientFailure?.Invoke() ?? new TimeoutException("the database is slow");
            if (context.Message.Currency is null)
                throw new InvalidOrderException("currency missing");
            if (context.Message.Quantity < 1)
                throw new InvalidOrderException($"quantity {context.Message.Quantity}");
            ledger.Processed.AddOrUpdate(id, 1, (_, n) => n + 1);
            ledger.Sequence.Enqueue(id);
        }
    }

    /// <summary>Fills a missing currency.</summary>
    public sealed class DefaultCurrencyRepairer : IMessageRepairer<PlaceOrder>
    {
        public Task<RepairResult<PlaceOrder>> Repair(MessageRepairContext<PlaceOrder> context, CancellationToken cancellationToken) =>
            Task.FromResult(context.Message.Currency is null
                ? RepairResult<PlaceOrder>.Repaired(context.Message with { Currency = "EUR" }, "currency defaulted to EUR")
                : RepairResult<PlaceOrder>.CannotRepair("currency is set"));
    }

    /// <summary>Claims to repair a bad quantity but produces a message that is still bad.</summary>
    public sealed class UselessQuantityRepairer : IMessageRepairer<PlaceOrder>
    {
        public Task<RepairResult<PlaceOrder>> Repair(MessageRepairContext<PlaceOrder> context, CancellationToken cancellationToken) =>
            Task.FromResult(context.Message.Quantity < 1
                ? RepairResult<PlaceOrder>.Repaired(context.Message with { Quantity = context.Message.Quantity - 1 }, "tried another quantity")
                : RepairResult<PlaceOrder>.CannotRepair());
    }

    /// <summary>
    /// Where messages ended that no consumer took: deliveries seen on the dead-end queues (<c>_skipped</c>,
    /// <c>_error</c>) of the rig's endpoints, by queue and message id. On the in-memory transport a moved
    /// message only exists if a queue is bound to the dead-end exchange, so the rig binds one per dead end.
    /// </summary>
    public sealed class DeadEndCounter(IEnumerable<string> queues) : IReceiveObserver
    {
        readonly HashSet<string> _queues = [.. queues];
        public readonly ConcurrentDictionary<string, ConcurrentQueue<Guid?>> Arrived = new();

        public IReadOnlyCollection<string> Queues => _queues;

        public int Count(string queue) => Arrived.TryGetValue(queue, out var ids) ? ids.Count : 0;

        public int Total => Arrived.Values.Sum(q => q.Count);

        public Task PreReceive(ReceiveContext context)
        {
            var queue = context.InputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1];
            if (_queues.Contains(queue))
                Arrived.GetOrAdd(queue, _ => new ConcurrentQueue<Guid?>()).Enqueue(context.GetMessageId());
            return Task.CompletedTask;
        }

        public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

        public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
    }

    /// <summary>
    /// Counts settled receives on one queue, by message id: MassTransit calls PostReceive after the whole
    /// receive pipe, its dead-letter or error move included, and after the acknowledgement.
    /// </summary>
    public sealed class SettledCounter(string queue) : IReceiveObserver
    {
        public readonly ConcurrentDictionary<Guid, int> Settled = new();
        int _total;

        public int Total => Volatile.Read(ref _total);

        public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostReceive(ReceiveContext context)
        {
            if (context.InputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1] == queue)
            {
                if (context.GetMessageId() is { } id)
                    Settled.AddOrUpdate(id, 1, (_, n) => n + 1);
                Interlocked.Increment(ref _total);
            }
            return Task.CompletedTask;
        }

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

        // A receive pipe that throws is not settled: the transport delivers the message again.
        public Task ReceiveFault(ReceiveContext context, Exception exception) => Task.CompletedTask;
    }

    /// <summary>A bus under MassTransit's test harness with an "orders" endpoint behind the workflow event filter.</summary>
    public sealed class WorkflowRig : IAsyncDisposable
    {
        public const string Queue = "orders";
        readonly ServiceProvider _provider;

        /// <summary>The dead ends observed with <c>observeDeadEnds</c>: the orders endpoint's and the processor's <c>_skipped</c> and <c>_error</c>.</summary>
        public static readonly string[] DeadEndQueues =
        [
            Queue + "_skipped", Queue + "_error", WorkflowProcessorOptions.DefaultQueueName + "_skipped", WorkflowProcessorOptions.DefaultQueueName + "_error"
        ];

        WorkflowRig(ServiceProvider provider)
        {
            _provider = provider;
            Harness = provider.GetRequiredService<ITestHarness>();
            Ledger = provider.GetRequiredService<OrderLedger>();
            DeadEnds = provider.GetService<DeadEndCounter>();
            Settled = provider.GetRequiredService<SettledCounter>();
            Client = new WorkflowEventClient(Harness.Bus, timeout: TimeSpan.FromSeconds(20));
        }

        /// <summary>Deliveries that reached a dead end (only with <c>observeDeadEnds</c>).</summary>
        public DeadEndCounter? DeadEnds { get; }

        /// <summary>Settled receives on the orders queue.</summary>
        public SettledCounter Settled { get; }

        public ITestHarness Harness { get; }

        public OrderLedger Ledger { get; }

        public WorkflowEventClient Client { get; }

        public static async Task<WorkflowRig> StartAsync(Action<WorkflowEventOptions>? endpoint = null, Action<IBusRegistrationConfigurator>? repairers = null,
            int maxRepairAttempts = 3, Action<IConsumerConfigurator<OrderConsumer>>? consumer = null, bool holdByKey = false, bool observeDeadEnds = false,
            TimeSpan? consumerStopTimeout = null)
        {
            var services = new ServiceCollection().AddSingleton<OrderLedger>().AddSingleton(new SettledCounter(Queue));
            var deadEnds = observeDeadEnds ? new DeadEndCounter(DeadEndQueues) : null;
            if (deadEnds is not null)
                services.AddSingleton(deadEnds);
            services.AddMassTransitTestHarness(x =>
            {
                x.UsingInMemory((ctx, cfg) =>
                {
                    if (deadEnds is not null)
                        foreach (var queue in deadEnds.Queues)
                            cfg.ReceiveEndpoint(queue, _ => { }); // binds a queue to the dead-end exchange, so a moved message is seen
                    cfg.ConfigureEndpoints(ctx);
                });
                x.AddWorkflowEventProcessor(o => o.MaxRepairAttempts = maxRepairAttempts).InMemoryRepository();
                repairers?.Invoke(x);
                if (holdByKey)
                    x.AddWorkflowEventHoldByKey();
                x.AddConsumer<OrderConsumer>(c => consumer?.Invoke(c)).Endpoint(e =>
                {
                    e.Name = Queue;
                    if (holdByKey)
                        e.ConcurrentMessageLimit = 1; // in-order consumption, so the order of release shows
                });
                x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                {
                    if (name == Queue)
                        cfg.UseWorkflowEvent(ctx, o =>
                        {
                            o.RetryInterval = TimeSpan.FromMilliseconds(10);
                            if (holdByKey)
                                o.HoldByKey<PlaceOrder>(m => m.OrderId.ToString());
                            endpoint?.Invoke(o);
                        });
                });
            });
            services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));
            if (consumerStopTimeout is { } stopTimeout)
                services.Configure<MassTransitHostOptions>(o => o.ConsumerStopTimeout = stopTimeout);
            var provider = services.BuildServiceProvider(true);
            var rig = new WorkflowRig(provider);
            rig.Harness.Bus.ConnectReceiveObserver(rig.Settled);
            if (deadEnds is not null)
                rig.Harness.Bus.ConnectReceiveObserver(deadEnds);
            await rig.Harness.Start();
            return rig;
        }

        public async Task<Guid> SendAsync(PlaceOrder order)
        {
            var id = NewId.NextGuid();
            var endpoint = await Harness.Bus.GetSendEndpoint(new Uri($"queue:{Queue}"));
            await endpoint.Send(order, c => c.MessageId = id);
            return id;
        }

        /// <summary>Sends bytes as they are, with a content type, as a producer with a broken serializer would.</summary>
        public async Task<Guid> SendRawAsync(string body, string contentType = "application/vnd.masstransit+json", Guid? messageId = null)
        {
            var id = messageId ?? NewId.NextGuid();
            var endpoint = await Harness.Bus.GetSendEndpoint(new Uri($"queue:{Queue}"));
            await endpoint.Send(new WorkflowRawBody(), c =>
            {
                c.Serializer = new CopyBodySerializer(new ContentType(contentType), new StringMessageBody(body));
                c.MessageId = id;
            });
            return id;
        }

        public async Task<WorkflowEventState?> FindAsync(Guid id) =>
            await _provider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>().Load(id);

        public async Task<WorkflowEventState> WaitForStateAsync(Guid id, string state, string because)
        {
            WorkflowEventState? saga = null;
            await Eventually.True(async () => (saga = await FindAsync(id))?.CurrentState == state, TimeSpan.FromSeconds(20),
                $"{because} (state {saga?.CurrentState ?? "none"})");
            return saga!;
        }

        public async ValueTask DisposeAsync()
        {
            await Harness.Stop();
            await _provider.DisposeAsync();
        }
    }
}
