using System.Runtime.CompilerServices;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Contextual.Messages;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>
/// A retired context queue must not keep its stopped receive endpoint's handle in memory. MassTransit keeps every
/// connected endpoint's consume pipe specification for the bus's lifetime, and the pattern's activity filter is part of
/// it: whatever that filter references lives as long as the bus. Found by the scale benchmark (issue 23): about 30 KB
/// stayed per context queue ever created (in memory; 40 KB on RabbitMQ), a third of it through the queue's handle.
/// (The rest is MassTransit's own: its host configuration keeps every endpoint configuration it ever created.)
/// </summary>
public sealed class ContextualRetiredQueueMemoryTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_retired_context_queue_releases_its_receive_endpoint_handle()
    {
        var queue = $"orders-{Guid.NewGuid():N}"[..20];
        var endpoints = new EndpointWatcher();
        var services = new ServiceCollection().AddSingleton<OrderRecorder>();
        services.AddMassTransit(x =>
        {
            x.AddContextualQueues<CustomerOrder>();
            x.AddConsumer<CustomerOrderConsumer>().ExcludeFromConfigureEndpoints();
            x.UsingInMemory((context, cfg) =>
            {
                cfg.UseContextualQueues<CustomerOrder>(context, q =>
                {
                    q.DefaultQueue(queue).Context(m => m.Customer).Endpoint(e => e.ConfigureConsumer<CustomerOrderConsumer>(context));
                    q.Options.IdleTimeout = TimeSpan.FromSeconds(2); // long enough to take the handles while the queues are active
                });
                cfg.ConfigureEndpoints(context);
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var bus = provider.GetRequiredService<IBusControl>();
        bus.ConnectReceiveEndpointObserver(endpoints);
        await bus.StartAsync();
        try
        {
            var routing = provider.GetRequiredService<ContextualRouting<CustomerOrder>>();
            var recorder = provider.GetRequiredService<OrderRecorder>();
            var send = await bus.GetSendEndpoint(routing.RouterAddress);
            const int contexts = 3;
            for (var i = 0; i < contexts; i++)
                await send.Send(new CustomerOrder($"c{i}", i));
            await Eventually.True(() => endpoints.ContextEndpoints == contexts && Enumerable.Range(0, contexts).All(i => routing.HandleOf($"{queue}.ctx.c{i}") is not null),
                Timeout, $"{contexts} context queues created (saw {endpoints.ContextEndpoints})");
            var handles = Handles(routing, queue, contexts);
            await Eventually.True(() => routing.RetiredCount == contexts && routing.ContextQueueCount == 0, Timeout,
                $"every context queue retired (retired {routing.RetiredCount}, left {routing.ContextQueueCount})");
            Assert.Equal(contexts, recorder.Seen.Count); // each order consumed once, on the default queue (its context's first)

            var alive = AliveAfterFullCollection(handles);
            Assert.True(alive == 0, $"{alive} of {contexts} retired context queues' receive endpoint handles are still in memory after a full collection");
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    /// <summary>Weak references to the context queues' handles, taken while they are active (Ready fires before the registry has the handle).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    static WeakReference[] Handles(ContextualRouting routing, string queue, int contexts)
    {
        var handles = new WeakReference[contexts];
        for (var i = 0; i < contexts; i++)
            handles[i] = new WeakReference(routing.HandleOf($"{queue}.ctx.c{i}") ?? throw new InvalidOperationException($"c{i} has no queue"));
        return handles;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static int AliveAfterFullCollection(WeakReference[] references)
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return references.Count(w => w.IsAlive);
    }

    /// <summary>Counts the context queues' receive endpoints as they become ready.</summary>
    sealed class EndpointWatcher : IReceiveEndpointObserver
    {
        int _endpoints;

        public int ContextEndpoints => Volatile.Read(ref _endpoints);

        public Task Ready(ReceiveEndpointReady ready)
        {
            if (ready.InputAddress.AbsolutePath.Contains(".ctx.", StringComparison.Ordinal))
                Interlocked.Increment(ref _endpoints);
            return Task.CompletedTask;
        }

        public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

        public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

        public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;
    }
}
