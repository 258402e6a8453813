using MassTransit.Patterns.Testing;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests;

/// <summary>Raw AMQP access to the broker that build/services.sh started, for arranging and checking queues.</summary>
public static class Broker
{
    public static ConnectionFactory Factory(int node = 0) => new()
    {
        HostName = ServiceEnvironment.RabbitHost,
        Port = ServiceEnvironment.RabbitAmqpPorts[node],
        UserName = ServiceEnvironment.RabbitUser,
        Password = ServiceEnvironment.RabbitPassword,
        ClientProvidedName = "MassTransit.Patterns tests"
    };

    /// <summary>A queue name no other test uses.</summary>
    public static string UniqueQueue(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 64)];

    public static Uri BusHost(int node = 0) => new($"rabbitmq://{ServiceEnvironment.RabbitHost}:{ServiceEnvironment.RabbitAmqpPorts[node]}/");
}
