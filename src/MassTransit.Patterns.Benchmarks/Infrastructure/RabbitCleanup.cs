using MassTransit.Patterns.Testing;
using RabbitMQ.Client;

namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>Removes what a run declared on the shared broker, so runs leave nothing behind.</summary>
public static class RabbitCleanup
{
    /// <summary>
    /// Deletes each endpoint's queue and exchange with its <c>_error</c> and <c>_skipped</c> pair, then
    /// the further <paramref name="exchanges"/>. Each deletion has a channel of its own, so one that
    /// the broker refuses does not stop the rest.
    /// </summary>
    public static async Task DeleteEndpointsAsync(IEnumerable<string> endpoints, params string[] exchanges)
    {
        var factory = new ConnectionFactory
        {
            HostName = ServiceEnvironment.RabbitHost,
            Port = ServiceEnvironment.RabbitAmqpPort,
            UserName = ServiceEnvironment.RabbitUser,
            Password = ServiceEnvironment.RabbitPassword
        };
        await using var connection = await factory.CreateConnectionAsync();
        foreach (var name in endpoints.SelectMany(e => new[] { e, e + "_error", e + "_skipped" }))
        {
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeleteAsync(name, false, false);
            await channel.ExchangeDeleteAsync(name, false);
        }
        foreach (var name in exchanges)
        {
            await using var channel = await connection.CreateChannelAsync();
            await channel.ExchangeDeleteAsync(name, false);
        }
    }
}
