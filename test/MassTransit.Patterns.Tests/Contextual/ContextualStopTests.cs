using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>Stopping the bus waits for the context queue creations under way: none outlives the stop.</summary>
public sealed class ContextualStopTests
{
    /// <summary>The in-memory topology, whose activation of a context queue hangs until cancelled and then takes a while to clean up.</summary>
    sealed class SlowActivation : IContextualQueueTransport
    {
        readonly IContextualQueueTransport _inner = InMemoryContextualQueueTransport.Instance;
        readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _finished;

        public Task Entered => _entered.Task;

        public bool Finished => Volatile.Read(ref _finished) == 1;

        public string Name => _inner.Name;
        public bool BrokerFallback => _inner.BrokerFallback;
        public Uri GetRouterAddress(ContextualQueueOptions options) => _inner.GetRouterAddress(options);
        public void ConfigureDefaultEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options) => _inner.ConfigureDefaultEndpoint(endpoint, options);
        public void ConfigureContextEndpoint(IReceiveEndpointConfigurator endpoint, ContextualQueueOptions options, string routingKey) =>
            _inner.ConfigureContextEndpoint(endpoint, options, routingKey);
        public Task BindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken) =>
            _inner.BindAsync(queue, routingKey, options, cancellationToken);
        public Task UnbindAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken) =>
            _inner.UnbindAsync(queue, routingKey, options, cancellationToken);
        public Task<long?> GetReadyCountAsync(string queue, CancellationToken cancellationToken) => _inner.GetReadyCountAsync(queue, cancellationToken);
        public Task DeleteQueueAsync(string queue, ContextualQueueOptions options, CancellationToken cancellationToken) =>
            _inner.DeleteQueueAsync(queue, options, cancellationToken);

        public async Task ActivateAsync(string queue, string routingKey, ContextualQueueOptions options, CancellationToken cancellationToken)
        {
            _entered.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            finally
            {
                // A slow clean-up after the cancellation (a broker call that takes its time to give up).
                await Task.Delay(300, CancellationToken.None);
                Volatile.Write(ref _finished, 1);
            }
        }
    }

    [Fact]
    public async Task Stopping_the_bus_waits_for_a_context_queue_creation_under_way()
    {
        var queue = $"ctx-stop-{Guid.NewGuid():N}"[..18];
        var transport = new SlowActivation();
        await using var h = await ContextualHarness.StartAsync(queue, q => q.Transport = transport);

        await h.Send("a", 1);
        await h.ConsumedAll(1);
        Assert.Equal(queue, h.Recorder.Seen.Single().Queue);     // the one message: consumed on the default queue, once
        await transport.Entered.WaitAsync(ContextualHarness.Timeout);   // a's queue is being created
        Assert.False(transport.Finished);

        await h.Harness.Stop();

        Assert.True(transport.Finished, "the creation of a's queue ended before the bus stop returned");
        Assert.Equal(0, h.Routing.ContextQueueCount);   // and it forgot the queue it did not finish
    }
}
