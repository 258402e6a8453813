using System.Collections.Concurrent;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Contextual.Messages
{
    public record CustomerOrder(string? Customer, int Number, bool Explode = false);
}

namespace MassTransit.Patterns.Tests.Contextual
{
    using Messages;

    public sealed record Consumed(string Queue, string? Customer, int Number);

    /// <summary>Records each consumed order and the queue it came from; can hold consumers until released.</summary>
    public sealed class OrderRecorder
    {
        readonly ConcurrentQueue<Consumed> _seen = new();
        volatile TaskCompletionSource? _gate;

        public IReadOnlyList<Consumed> Seen => _seen.ToArray();

        public void Hold() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _gate?.TrySetResult();

        int _waiting;

        int _peakWaiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public int PeakWaiting => Volatile.Read(ref _peakWaiting);

        public async Task Record(ConsumeContext<CustomerOrder> context)
        {
            if (_gate is { } gate)
            {
                var now = Interlocked.Increment(ref _waiting);
                int peak;
                while (now > (peak = Volatile.Read(ref _peakWaiting)) && Interlocked.CompareExchange(ref _peakWaiting, now, peak) != peak)
                {
                }
                await gate.Task;
                Interlocked.Decrement(ref _waiting);
            }
            _seen.Enqueue(new Consumed(context.ReceiveContext.InputAddress.GetEndpointName() ?? "", context.Message.Customer, context.Message.Number));
        }
    }

    public sealed class CustomerOrderConsumer(OrderRecorder recorder) : IConsumer<CustomerOrder>
    {
        public Task Consume(ConsumeContext<CustomerOrder> context) => recorder.Record(context);
    }

    public sealed class ContextualHarness : IAsyncDisposable
    {
        public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

        ContextualHarness(ServiceProvider provider, ITestHarness harness, ContextualRouting routing, OrderRecorder recorder)
        {
            Provider = provider;
            Harness = harness;
            Routing = routing;
            Recorder = recorder;
        }

        public ServiceProvider Provider { get; }
        public ITestHarness Harness { get; }
        public ContextualRouting Routing { get; }
        public OrderRecorder Recorder { get; }

        public static async Task<ContextualHarness> StartAsync(string queue, Action<ContextualQueueConfigurator<CustomerOrder>> configure,
            Action<IServiceCollection>? services = null)
        {
            var collection = new ServiceCollection();
            services?.Invoke(collection);
            var provider = collection
                .AddSingleton<OrderRecorder>()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddContextualQueues<CustomerOrder>();
                    x.AddConsumer<CustomerOrderConsumer>().ExcludeFromConfigureEndpoints();
                    x.UsingInMemory((context, cfg) =>
                    {
                        cfg.UseContextualQueues<CustomerOrder>(context, q =>
                        {
                            q.DefaultQueue(queue).Context(m => m.Explode ? throw new InvalidOperationException("selector failed") : m.Customer)
                                .Endpoint(e => e.ConfigureConsumer<CustomerOrderConsumer>(context));
                            configure(q);
                        });
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            await harness.Start();
            return new ContextualHarness(provider, harness, provider.GetRequiredService<ContextualRouting<CustomerOrder>>(), provider.GetRequiredService<OrderRecorder>());
        }

        public async Task Send(string? customer, int number, bool explode = false)
        {
            var endpoint = await Harness.Bus.GetSendEndpoint(Routing.RouterAddress);
            await endpoint.Send(new CustomerOrder(customer, number, explode));
        }

        public Task ConsumedAll(int count) =>
            Eventually.True(() => Recorder.Seen.Count >= count, Timeout, () => $"{count} orders consumed (saw {Recorder.Seen.Count})");

        public ValueTask DisposeAsync() => Provider.DisposeAsync();
    }
}
