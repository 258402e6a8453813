using MassTransit.Configuration;
using MassTransit.InMemoryTransport.Configuration;
using MassTransit.Transports.Fabric;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The lane on MassTransit's in-memory transport (and so under the test harness). The in-memory
/// fabric has fan-out, direct and topic exchanges but no header routing, so an urgent message also
/// carries the routing key <see cref="RoutingKey"/> (set just before it leaves, when it has no
/// routing key of its own); the fork is a direct exchange bound to the queue's exchange that passes
/// that key on to the lane's exchange.
/// </summary>
sealed class InMemoryAmbulanceLaneTransport : IAmbulanceLaneTransport
{
    /// <summary>The routing key of urgent messages on the in-memory transport.</summary>
    public const string RoutingKey = "mt-patterns-urgent";

    /// <summary>The shared instance.</summary>
    public static InMemoryAmbulanceLaneTransport Instance { get; } = new();

    /// <inheritdoc />
    public string Name => "in-memory";

    /// <inheritdoc />
    public void ConfigureFork(IReceiveEndpointConfigurator queueEndpoint, IReceiveEndpointConfigurator laneEndpoint, AmbulanceLaneOptions lane)
    {
        if (queueEndpoint is not IInMemoryReceiveEndpointConfiguration configuration)
            throw new ConfigurationException(
                $"The ambulance lane of '{lane.QueueName}' uses the in-memory transport but the endpoint is a {queueEndpoint.GetType().Name}; use the transport's own UseAmbulanceLane.");
        configuration.Topology.Consume.AddSpecification(new ForkSpecification(lane.ForkExchangeName, lane.LaneName));
    }

    /// <inheritdoc />
    public bool IsLaneCopy(ReceiveContext context) =>
        context is RoutingKeyConsumeContext { RoutingKey: RoutingKey };

    /// <inheritdoc />
    public void PrepareSend(SendContext context)
    {
        if (context is RoutingKeySendContext keyed && string.IsNullOrEmpty(keyed.RoutingKey) && UrgentMark.HasRoutingMark(context.Headers))
            keyed.RoutingKey = RoutingKey;
    }

    /// <summary>queue exchange (fan-out) → fork (direct, key <see cref="RoutingKey"/>) → lane exchange → lane queue.</summary>
    sealed class ForkSpecification(string fork, string lane) : IInMemoryConsumeTopologySpecification
    {
        public IEnumerable<ValidationResult> Validate() => [];

        public void Apply(IMessageFabricConsumeTopologyBuilder builder)
        {
            builder.ExchangeDeclare(fork, ExchangeType.Direct);
            builder.ExchangeDeclare(lane, ExchangeType.FanOut);
            builder.QueueDeclare(lane);
            builder.QueueBind(lane, lane);
            builder.ExchangeBind(fork, lane, RoutingKey);
            builder.ExchangeBind(builder.Exchange, fork, "");
        }
    }
}
