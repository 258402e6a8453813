using Azure.Messaging.ServiceBus;
using MassTransit.Patterns.AzureServiceBus.ThreadDelegate;

namespace MassTransit.Patterns.Tests.ThreadDelegate;

/// <summary>The Azure Service Bus helpers of the thread delegate (sessions), without a namespace.</summary>
public sealed class ServiceBusSessionTests
{
    [Fact]
    public void A_key_that_fits_is_its_own_session_id_and_a_long_key_maps_to_a_stable_id_within_the_limit()
    {
        Assert.Equal("account-42", ServiceBusThreadDelegateSessions.SessionIdFor("account-42"));

        var longKey = new string('x', 100) + new string('y', 100);
        var id = ServiceBusThreadDelegateSessions.SessionIdFor(longKey);
        Assert.True(id.Length <= ServiceBusThreadDelegateSessions.MaxSessionIdLength, $"{id.Length} characters");
        Assert.Equal(id, ServiceBusThreadDelegateSessions.SessionIdFor(longKey));
        Assert.NotEqual(id, ServiceBusThreadDelegateSessions.SessionIdFor(longKey[..199] + "z"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void A_message_without_a_key_is_rejected_not_sent_unordered(string? key)
    {
        Assert.Throws<ArgumentException>(() => new ServiceBusMessage("body").WithOrderingKey(key));
    }

    [Fact]
    public void The_message_gets_the_session_id_and_the_queue_requires_sessions()
    {
        var message = new ServiceBusMessage("body").WithOrderingKey("order-7");
        var options = ServiceBusThreadDelegateSessions.CreateOrderedQueueOptions("orders", TimeSpan.FromMinutes(1));

        Assert.Equal("order-7", message.SessionId);
        Assert.True(options.RequiresSession);
        Assert.Equal("orders", options.Name);
        Assert.Equal(TimeSpan.FromMinutes(1), options.LockDuration);
    }
}
