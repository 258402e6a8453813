using MassTransit.Patterns.Dashboard.TestHost;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>The test host's own accounting is not vacuous.</summary>
public sealed class DashboardHostTests
{
    public sealed record NobodyConsumesThis(string Text);

    [Fact]
    public async Task A_message_that_reaches_a_dead_end_is_seen_there()
    {
        await using var host = new DashboardHost();
        _ = host.Server; // starts the host
        var bus = host.Services.GetRequiredService<IBus>();
        var id = NewId.NextGuid();
        var endpoint = await bus.GetSendEndpoint(new Uri("queue:orders"));
        await endpoint.Send(new NobodyConsumesThis("no consumer on orders takes this"), c => c.MessageId = id);

        var deadEnds = host.Services.GetRequiredService<DeadEnds>();
        await Eventually.True(() => deadEnds.Arrived.Contains(("orders_skipped", id)), TimeSpan.FromSeconds(10), "a message no consumer takes moves to orders_skipped");
        Assert.Single(deadEnds.Arrived);
    }
}
