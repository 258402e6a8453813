using System.Collections.Concurrent;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.ThreadDelegate.Messages;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Testing;

namespace MassTransit.Patterns.Tests.ThreadDelegate;

/// <summary>How the delivery order is chosen and what it does when the endpoint stops with a gap.</summary>
public sealed class ThreadDelegateDeliveryOrderTests
{
    const string PositionHeader = "test-delivery-position";

    /// <summary>Positions from a header (standing in for a broker's delivery tag); optionally "returns canceled deliveries" like RabbitMQ.</summary>
    sealed class HeaderDeliveryOrder(bool returnsCanceled, bool supported = true) : IDeliveryOrder
    {
        /// <summary>The positions the filter has read: the deliveries that reached the thread delegate.</summary>
        public ConcurrentQueue<long> Seen { get; } = new();

        public bool TryGetPosition(ReceiveContext context, out object stream, out long position)
        {
            stream = "stream";
            position = context.TransportHeaders.Get<long>(PositionHeader) ?? 0;
            Seen.Enqueue(position);
            return position > 0;
        }

        public bool Supports(IReceiveEndpointConfigurator endpoint) => supported;

        public bool ReturnsCanceledDeliveries => returnsCanceled;
    }

    sealed class ReceiveFaults : IReceiveObserver
    {
        public ConcurrentQueue<(Guid? MessageId, Exception Exception, bool Canceled)> Faults { get; } = new();

        public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class => Task.CompletedTask;

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class => Task.CompletedTask;

        public Task ReceiveFault(ReceiveContext context, Exception exception)
        {
            Faults.Enqueue((context.GetMessageId(), exception, context.CancellationToken.IsCancellationRequested));
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// The endpoint stops while a position is missing (a delivery the transport dropped while stopping).
    /// With an order whose transport takes canceled deliveries back (RabbitMQ), the deliveries behind the
    /// gap are returned unprocessed (receive context canceled, OperationCanceledException), not run ahead of
    /// the missing one; the stop completes.
    /// </summary>
    [Fact(Timeout = 60_000)]
    public async Task Stopping_with_a_gap_returns_the_deliveries_behind_it_unprocessed()
    {
        var order = new HeaderDeliveryOrder(returnsCanceled: true);
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 2;
            o.DeliveryOrder = order;
            o.SequenceGapTimeout = TimeSpan.FromMinutes(5); // while running, the gap would wait this long
        });
        var faults = new ReceiveFaults();
        harness.Harness.Bus.ConnectReceiveObserver(faults);
        var endpoint = await harness.Harness.Bus.GetSendEndpoint(new Uri($"queue:{ThreadDelegateHarness.Queue}"));

        var beforeGap = Guid.NewGuid();
        var behindGap = new[] { Guid.NewGuid(), Guid.NewGuid() };
        await endpoint.Send(new KeyedWork("A", 0), c =>
        {
            c.MessageId = beforeGap;
            c.Headers.Set(PositionHeader, 1L);
        });
        // Position 2 never comes.
        await endpoint.Send(new KeyedWork("A", 1), c =>
        {
            c.MessageId = behindGap[0];
            c.Headers.Set(PositionHeader, 3L);
        });
        await endpoint.Send(new KeyedWork("B", 0), c =>
        {
            c.MessageId = behindGap[1];
            c.Headers.Set(PositionHeader, 4L);
        });
        await Eventually.True(() => harness.Recorder.Completed == 1, TimeSpan.FromSeconds(10), "position 1 consumed");
        // 3 and 4 must have reached the filter before the stop; otherwise they are still in the transport (not returned by us).
        await Eventually.True(() => order.Seen.Count(p => p is 3 or 4) == 2, TimeSpan.FromSeconds(10), "positions 3 and 4 reached the thread delegate");
        Assert.Equal(0, harness.Snapshot.Buffered + harness.Snapshot.LanesBusy); // 3 and 4 wait for 2, outside the lanes

        await harness.Harness.Stop().WaitAsync(TimeSpan.FromSeconds(20));

        // Where each of the three ended: position 1 consumed; 3 and 4 returned, canceled, never consumed.
        Assert.Equal([0], harness.Recorder.CompletedOf("A"));
        Assert.Equal(1, harness.Recorder.Started);
        var returned = faults.Faults.ToArray();
        Assert.Equal(behindGap.Order(), returned.Select(f => f.MessageId!.Value).Order());
        Assert.All(returned, f =>
        {
            Assert.IsAssignableFrom<OperationCanceledException>(f.Exception);
            Assert.True(f.Canceled, "the receive context is canceled, so the transport does not acknowledge it");
        });
    }

    [Fact(Timeout = 60_000)]
    public async Task A_delivery_order_that_cannot_read_the_endpoints_transport_fails_start_up()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o => o.DeliveryOrder = new HeaderDeliveryOrder(false, supported: false), start: false);

        var exception = await Assert.ThrowsAnyAsync<ConfigurationException>(() => harness.Harness.Start());

        Assert.Contains($"ThreadDelegateOptions[{ThreadDelegateHarness.Queue}].DeliveryOrder", exception.Message);
        Assert.Contains(nameof(HeaderDeliveryOrder), exception.Message);
    }

    [Fact(Timeout = 60_000)]
    public async Task Arrival_order_is_accepted_when_chosen_explicitly()
    {
        await using var harness = await ThreadDelegateHarness.StartAsync(o =>
        {
            o.Workers = 2;
            o.UseArrivalOrder();
        });

        await harness.SendAsync(Enumerable.Range(0, 10).Select(i => new KeyedWork("A", i)));

        await Eventually.True(() => harness.Recorder.Completed == 10, TimeSpan.FromSeconds(10), "all consumed");
        Assert.Equal(Enumerable.Range(0, 10), harness.Recorder.CompletedOf("A").Order()); // each once (order by arrival is best effort)
    }
}
