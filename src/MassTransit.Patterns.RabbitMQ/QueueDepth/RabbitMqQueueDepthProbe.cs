using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace MassTransit.Patterns.RabbitMQ.QueueDepth;

/// <summary>
/// Reads a RabbitMQ queue's ready count with an AMQP passive declare: exact and immediate, but blind
/// to unacknowledged messages (use <see cref="RabbitMqManagementQueueDepthProbe"/> for those). It
/// keeps one connection of its own and opens a short-lived channel per reading, since a passive
/// declare of a missing queue closes its channel.
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
    public async Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        try
        {
            var connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken).ConfigureAwait(false);
            return new QueueDepthSample(queue, ok.MessageCount, null, (int)ok.ConsumerCount, _time.GetUtcNow());
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.QueueNotFound, "the broker has no such queue.", exception);
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Timeout, "the broker did not answer in time.", exception);
        }
        catch (Exception exception) when (exception is BrokerUnreachableException or AlreadyClosedException or OperationInterruptedException
                                              or System.Net.Sockets.SocketException or IOException or TimeoutException)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, $"{_options} could not be reached: {exception.Message}", exception);
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
            if (_connection is not null)
                await _connection.DisposeAsync().ConfigureAwait(false);

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
            _connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
            return _connection;
        }
        finally
        {
            _connectionLock.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
            await _connection.DisposeAsync().ConfigureAwait(false);
        _connectionLock.Dispose();
    }
}
