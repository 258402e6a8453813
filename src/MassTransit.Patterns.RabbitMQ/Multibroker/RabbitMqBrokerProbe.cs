using MassTransit.RabbitMqTransport;
using MassTransit.RabbitMqTransport.Configuration;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Multibroker;

/// <summary>
/// The multibroker's probe of one RabbitMQ broker: a passive declare of <c>amq.direct</c> (a real round
/// trip that declares nothing) on a connection of its own, made with the broker's host settings (for a
/// cluster, to the first of its nodes that answers, as the bus connects). A
/// probe that fails or is cancelled drops the connection (aborted in the background: against a hung
/// broker a clean close would wait), so the next probe connects afresh.
/// </summary>
sealed class RabbitMqBrokerProbe(Uri hostAddress, Action<IRabbitMqHostConfigurator>? host, string connectionName)
{
    readonly SemaphoreSlim _connectionLock = new(1, 1);
    IConnection? _connection;

    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        try
        {
            var connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
            var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            try
            {
                await channel.ExchangeDeclarePassiveAsync("amq.direct", cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _ = CloseQuietlyAsync(channel);
            }
        }
        catch (Exception)
        {
            Drop();
            throw;
        }
    }

    async Task<IConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _connection) is { IsOpen: true } open)
            return open;
        await _connectionLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is { IsOpen: true } connection)
                return connection;
            Drop();
            var configurator = new RabbitMqHostConfigurator(hostAddress);
            host?.Invoke(configurator);
            var settings = configurator.Settings;
            var factory = settings.GetConnectionFactory();
            factory.ClientProvidedName = connectionName;
            factory.AutomaticRecoveryEnabled = false;
            // A cluster (h.UseCluster): the first of its nodes that answers, not only the host address's node.
            var created = settings.EndpointResolver is { } resolver
                ? await factory.CreateConnectionAsync(ClusterNodes(resolver), connectionName, cancellationToken).ConfigureAwait(false)
                : await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _connection, created);
            return created;
        }
        finally
        {
            _connectionLock.Release();
        }
    }

    /// <summary>
    /// Every node of a cluster's resolver, in its order. MassTransit's resolver hands out one node per call (the bus moves to
    /// the next node on each reconnection); the probe collects the whole rotation so that one probe tries each node.
    /// </summary>
    static List<AmqpTcpEndpoint> ClusterNodes(IEndpointResolver resolver)
    {
        var nodes = new List<AmqpTcpEndpoint>();
        for (var i = 0; i < 64; i++)
        {
            var batch = resolver.All().ToList();
            if (batch.Count == 0 || batch.All(e => nodes.Any(n => n.HostName == e.HostName && n.Port == e.Port)))
                break;
            nodes.AddRange(batch.Where(e => !nodes.Any(n => n.HostName == e.HostName && n.Port == e.Port)));
        }
        return nodes;
    }

    public void Drop()
    {
        if (Interlocked.Exchange(ref _connection, null) is { } connection)
            _ = AbortQuietlyAsync(connection);
    }

    public async ValueTask CloseAsync()
    {
        if (Interlocked.Exchange(ref _connection, null) is { } connection)
            await AbortQuietlyAsync(connection).ConfigureAwait(false);
    }

    static async Task CloseQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // the channel of a finished probe: nothing depends on its close
        }
    }

    static async Task AbortQuietlyAsync(IConnection connection)
    {
        try
        {
            await connection.AbortAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // a connection to a broker that did not answer: it goes, however it ends
        }
    }
}
