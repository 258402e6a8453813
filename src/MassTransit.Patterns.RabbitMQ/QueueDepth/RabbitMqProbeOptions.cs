using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.RabbitMQ.QueueDepth;

/// <summary>Where and how the AMQP queue depth probe connects. Credentials come from configuration.</summary>
public sealed class RabbitMqProbeOptions : IPatternOptions
{
    /// <summary>The broker's host name. Default <c>localhost</c>.</summary>
    public string HostName { get; set; } = "localhost";

    /// <summary>The AMQP port. Default 5672.</summary>
    public int Port { get; set; } = 5672;

    /// <summary>The virtual host. Default <c>/</c>.</summary>
    public string VirtualHost { get; set; } = "/";

    /// <summary>The user name.</summary>
    public string UserName { get; set; } = "guest";

    /// <summary>The password; never logged.</summary>
    public string Password { get; set; } = "guest";

    /// <summary>How long to wait for the connection. Default 5 s.</summary>
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long one reading (connecting if need be, opening a channel, the passive declare) may take;
    /// then it fails with <see cref="MassTransit.Patterns.QueueDepth.QueueDepthFailure.Timeout"/> and the
    /// probe drops its connection. Holds against a hung broker too. Default 5 s.
    /// </summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The other nodes of a RabbitMQ cluster, as <c>host:port</c> (port optional: <see cref="Port"/>). The probe connects
    /// to <see cref="HostName"/> first, then to these in order, and reconnects the same way when its node is lost: any
    /// node reads a queue of the cluster, quorum queues included. Empty by default (one broker).
    /// </summary>
    public IList<string> ClusterNodes { get; set; } = [];

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .NotEmpty(HostName, nameof(HostName))
        .InRange(Port, 1, 65535, nameof(Port))
        .NotEmpty(VirtualHost, nameof(VirtualHost))
        .NotEmpty(UserName, nameof(UserName))
        .Positive(ConnectionTimeout, nameof(ConnectionTimeout))
        .Positive(ReadTimeout, nameof(ReadTimeout))
        .Require(ClusterNodes.All(n => !string.IsNullOrWhiteSpace(n) && (!n.Contains(':') || int.TryParse(n[(n.LastIndexOf(':') + 1)..], out var p) && p is > 0 and < 65536)),
            nameof(ClusterNodes), $"must be host or host:port entries with a port from 1 to 65535 (was [{string.Join(", ", ClusterNodes)}]).");

    /// <inheritdoc />
    public override string ToString() => $"amqp://{UserName}@{HostName}:{Port}/{Uri.EscapeDataString(VirtualHost)}" +
        (ClusterNodes.Count > 0 ? $" (cluster: {string.Join(", ", ClusterNodes)})" : "");
}
