using Azure;
using Azure.Messaging.ServiceBus;
using Azure.Messaging.ServiceBus.Administration;
using MassTransit.Patterns.AzureServiceBus.QueueDepth;
using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Tests.QueueDepth;

/// <summary>No Service Bus namespace can run here: the administration client is replaced by a fake of its own type.</summary>
public sealed class ServiceBusQueueDepthProbeTests
{
    sealed class FakeAdministrationClient(Func<string, QueueRuntimeProperties> answer) : ServiceBusAdministrationClient
    {
        public override Task<Azure.Response<QueueRuntimeProperties>> GetQueueRuntimePropertiesAsync(string name, CancellationToken cancellationToken = default) =>
            Task.FromResult(Azure.Response.FromValue(answer(name), null!));
    }

    [Fact]
    public async Task Active_message_count_is_the_ready_depth()
    {
        var client = new FakeAdministrationClient(name =>
            ServiceBusModelFactory.QueueRuntimeProperties(name, activeMessageCount: 42, deadLetterMessageCount: 3, scheduledMessageCount: 5));
        var probe = new ServiceBusQueueDepthProbe(client);

        var depth = await probe.GetDepthAsync("orders");

        Assert.Equal("orders", depth.Queue);
        Assert.Equal(42, depth.Ready);
        Assert.Null(depth.Unacknowledged);
        Assert.False(probe.KnowsUnacknowledged);
    }

    [Fact]
    public async Task A_missing_queue_is_reported_as_not_found()
    {
        var client = new FakeAdministrationClient(_ => throw new ServiceBusException("no entity", ServiceBusFailureReason.MessagingEntityNotFound));
        var probe = new ServiceBusQueueDepthProbe(client);

        var failure = await Assert.ThrowsAsync<QueueDepthProbeException>(() => probe.GetDepthAsync("ghost"));

        Assert.Equal(QueueDepthFailure.QueueNotFound, failure.Failure);
    }

    [Fact]
    public async Task An_unreachable_namespace_is_a_failure_not_zero()
    {
        var client = new FakeAdministrationClient(_ => throw new RequestFailedException(503, "unavailable"));
        var probe = new ServiceBusQueueDepthProbe(client);

        var failure = await Assert.ThrowsAsync<QueueDepthProbeException>(() => probe.GetDepthAsync("orders"));

        Assert.Equal(QueueDepthFailure.Unreachable, failure.Failure);
    }

    [Fact]
    public void Ready_and_unacknowledged_is_refused_when_the_probe_cannot_know_it()
    {
        var sample = new QueueDepthSample("orders", 5, null, null, DateTimeOffset.UtcNow);

        Assert.Equal(5, sample.Measure(DepthMeasure.Ready));
        var failure = Assert.Throws<QueueDepthProbeException>(() => sample.Measure(DepthMeasure.ReadyAndUnacknowledged));
        Assert.Equal(QueueDepthFailure.Unsupported, failure.Failure);
    }
}
