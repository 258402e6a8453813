using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MassTransit.Patterns.RabbitMQ.QueueDepth;

/// <summary>
/// Reads a RabbitMQ queue's ready count with an AMQP passive declare: exact and immediate, but blind
/// to unacknowledged messages (use <see cref="RabbitMqManagementQueueDepthProbe"/> for those). It
/// keeps one connection of its own and opens a short-lived channel per reading, since a passive
/// declare of a missing queue closes its channel. A reading takes at most
/// <see cref="RabbitMqProbeOptions.ReadTimeout"/>, also against a hung broker.
/// </summary>
public sealed class RabbitMqQueueDepthProbe : IQueueDepthProbe, IAsyncDisposable
{
    readonly RabbitMqProbeOptions _options;
    readonly TimeProvider _time;
    readonly SemaphoreSlim _connectionLock = new(1, 1);
    IConnection? _connection;

    /// <summary>Creates the probe.</summary>
    public RabbitMqQueueDepthProbe(IOptions<RabbitMqProbeOptions> options, TimeProvider? time = null)
    {
        _options = options.Value;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public string Name => "rabbitmq-amqp";

    /// <inheritdoc />
    public bool KnowsUnacknowledged => false;

    /// <inheritdoc />
    /// <remarks>
    /// Bounded by <see cref="RabbitMqProbeOptions.ReadTimeout"/> and by <paramref name="cancellationToken"/>,
    /// whatever the broker does: against a hung broker (connection open, nothing answering) the client's
    /// own waits (channel open and close, up to its continuation timeout) are not waited for. The
    /// connection of a reading that timed out is dropped (closed in the background); the next reading
    /// opens a new one.
    /// </remarks>
    public async Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        cancellationToken.ThrowIfCancellationRequested();
        using var deadline = new CancellationTokenSource(_options.ReadTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var read = ReadAsync(queue, linked.Token);
        try
        {
            return await read.WaitAsync(_options.ReadTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!read.IsCompleted)
        {
            Abandon(read);
            throw TimedOut(queue, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (!read.IsCompleted)
                Abandon(read);
            throw;
        }
        catch (OperationCanceledException exception) when (deadline.IsCancellationRequested)
        {
            DropConnection();
            throw TimedOut(queue, exception);
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.QueueNotFound, "the broker has no such queue.", exception);
        }
        catch (Exception exception) when (exception is BrokerUnreachableException or AlreadyClosedException or OperationInterruptedException
                                              or System.Net.Sockets.SocketException or IOException or TimeoutException)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, $"{_options} could not be reached: {exception.Message}", exception);
        }
    }

    QueueDepthProbeException TimedOut(string queue, Exception? inner) =>
        new(queue, Name, QueueDepthFailure.Timeout, $"the broker did not answer within {_options.ReadTimeout}.", inner);

    async Task<QueueDepthSample> ReadAsync(string queue, CancellationToken cancellationToken)
    {
        var connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken).ConfigureAwait(false);
            return new QueueDepthSample(queue, ok.MessageCount, null, (int)ok.ConsumerCount, _time.GetUtcNow());
        }
        finally
        {
            // Closing is a round trip too: it is not part of the reading (a passive declare of a missing queue has closed it already).
            _ = CloseQuietlyAsync(channel);
        }
    }

    static async Task CloseQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // the channel of a finished reading: nothing depends on its close
        }
    }

    /// <summary>A reading given up on: its connection is suspect (hung broker), and whatever the reading ends with is dropped.</summary>
    void Abandon(Task<QueueDepthSample> read)
    {
        AbandonedTask.Observe(read);
        DropConnection();
    }

    void DropConnection()
    {
        if (Interlocked.Exchange(ref _connection, null) is { } connection)
            _ = AbortQuietlyAsync(connection);
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
            // a connection to a hung broker: it goes, however it ends
        }
    }

    async Task<IConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = _connection;
        if (connection is { IsOpen: true })
            return connection;

        await _connectionLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is { IsOpen: true })
                return _connection;
            if (Interlocked.Exchange(ref _connection, null) is { } closed)
                _ = AbortQuietlyAsync(closed);

            var factory = new ConnectionFactory
            {
                HostName = _options.HostName,
                Port = _options.Port,
                VirtualHost = _options.VirtualHost,
                UserName = _options.UserName,
                Password = _options.Password,
                RequestedConnectionTimeout = _options.ConnectionTimeout,
                AutomaticRecoveryEnabled = false,
                ClientProvidedName = "MassTransit.Patterns queue depth probe"
            };
            // One broker, or the cluster's nodes in order (the first that answers).
            List<AmqpTcpEndpoint> endpoints = [new(_options.HostName, _options.Port), .. _options.ClusterNodes.Select(Endpoint)];
            _connection = await factory.CreateConnectionAsync(endpoints, cancellationToken).ConfigureAwait(false);
            return _connection;
        }
        finally
        {
            _connectionLock.Release();
        }
    }

    AmqpTcpEndpoint Endpoint(string node)
    {
        var colon = node.LastIndexOf(':');
        return colon < 0
            ? new AmqpTcpEndpoint(node, _options.Port)
            : new AmqpTcpEndpoint(node[..colon], int.Parse(node[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _connection, null) is { } connection)
            await AbortQuietlyAsync(connection).ConfigureAwait(false);
    }
}
