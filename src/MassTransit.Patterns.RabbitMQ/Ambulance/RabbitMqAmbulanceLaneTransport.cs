using MassTransit.Patterns.Ambulance;
using MassTransit.RabbitMqTransport;
using MassTransit.RabbitMqTransport.Configuration;
using MassTransit.RabbitMqTransport.Topology;

namespace MassTransit.Patterns.RabbitMQ.Ambulance;

/// <summary>
/// The lane on RabbitMQ. The queue endpoint X declares, before it consumes: a headers exchange
/// <c>X_lane.urgent</c> bound to X's exchange, and from it a binding to the lane's exchange that
/// matches <c>MT-Patterns-Urgent: true</c> (x-match all), plus the lane's exchange and queue as the
/// lane endpoint declares them. Every message that enters X's exchange (a send to
/// <c>exchange:X</c> or <c>queue:X</c>, a publish through a message-type exchange, a delayed or
/// scheduled delivery) reaches queue X as before and, when marked urgent, the lane queue as well;
/// X drops its copy. Nothing relies on x-max-priority. A lane whose configuration names no queue type
/// (<c>x-queue-type</c>) is declared with its queue's: a quorum queue's lane is a quorum queue.
/// </summary>
sealed class RabbitMqAmbulanceLaneTransport : IAmbulanceLaneTransport
{
    /// <summary>The shared instance.</summary>
    public static RabbitMqAmbulanceLaneTransport Instance { get; } = new();

    /// <inheritdoc />
    public string Name => "rabbitmq";

    /// <inheritdoc />
    public void ConfigureFork(IReceiveEndpointConfigurator queueEndpoint, IReceiveEndpointConfigurator laneEndpoint, AmbulanceLaneOptions lane)
    {
        if (queueEndpoint is not IRabbitMqReceiveEndpointConfiguration queue || laneEndpoint is not IRabbitMqReceiveEndpointConfiguration laneConfiguration)
            throw new ConfigurationException(
                $"The ambulance lane of '{lane.QueueName}' uses RabbitMQ but the endpoint is a {queueEndpoint.GetType().Name}; use the transport's own UseAmbulanceLane.");
        FollowQueueType(queue.Settings, laneConfiguration, laneEndpoint);
        queue.Topology.Consume.AddSpecification(new ForkSpecification(lane.ForkExchangeName, laneConfiguration));
    }

    const string QueueType = "x-queue-type";
    const string QuorumGroupSize = "x-quorum-initial-group-size";

    /// <summary>
    /// A lane whose configuration names no queue type takes its queue's (and a quorum queue's initial group size): the
    /// queue's endpoint has just been configured, the lane's before it. A classic lane beside a quorum queue lives on one
    /// node; while that node is down the broker still confirms an urgent message (the queue took it), the queue drops its
    /// copy as the lane's, and the message is lost (on the 3-node cluster, AmbulanceLaneOnClusterTests: all 5 urgent of 20 confirmed sends).
    /// </summary>
    static void FollowQueueType(ReceiveSettings queue, IRabbitMqReceiveEndpointConfiguration lane, IReceiveEndpointConfigurator laneEndpoint)
    {
        if (queue.QueueArguments is not { } queueArguments || !queueArguments.TryGetValue(QueueType, out var type) || type is null
            || laneEndpoint is not IRabbitMqReceiveEndpointConfigurator configurator)
            return;
        var laneArguments = lane.Settings.QueueArguments;
        if (laneArguments?.ContainsKey(QueueType) == true)
            return;
        configurator.SetQueueArgument(QueueType, type);
        if (queueArguments.TryGetValue(QuorumGroupSize, out var size) && size is not null && laneArguments?.ContainsKey(QuorumGroupSize) != true)
            configurator.SetQueueArgument(QuorumGroupSize, size);
    }

    /// <inheritdoc />
    public bool IsLaneCopy(ReceiveContext context) =>
        // Only a message that went through an exchange can have met the fork: one moved straight
        // into the queue (default exchange) is no copy, whatever its headers say.
        context is RabbitMqBasicConsumeContext { Exchange.Length: > 0 } && UrgentMark.HasRoutingMark(context.TransportHeaders);

    /// <inheritdoc />
    public void PrepareSend(SendContext context)
    {
        // The header alone routes: nothing to add.
    }

    /// <summary>queue exchange → fork (headers: MT-Patterns-Urgent = true) → lane exchange → lane queue.</summary>
    sealed class ForkSpecification(string forkName, IRabbitMqReceiveEndpointConfiguration lane) : IRabbitMqConsumeTopologySpecification
    {
        public IEnumerable<ValidationResult> Validate() => [];

        public void Apply(IReceiveEndpointBrokerTopologyBuilder builder)
        {
            // Read when the queue endpoint starts, after all configuration: the lane is declared exactly as its endpoint declares it.
            var settings = lane.Settings;
            var fork = builder.ExchangeDeclare(forkName, global::RabbitMQ.Client.ExchangeType.Headers, settings.Durable, settings.AutoDelete,
                new Dictionary<string, object>());
            builder.ExchangeBind(builder.Exchange, fork, "", new Dictionary<string, object>());

            var laneExchange = builder.ExchangeDeclare(settings.ExchangeName, settings.ExchangeType, settings.Durable, settings.AutoDelete,
                settings.ExchangeArguments);
            builder.ExchangeBind(fork, laneExchange, "", new Dictionary<string, object>
            {
                ["x-match"] = "all",
                [AmbulanceHeaders.Urgent] = AmbulanceHeaders.True
            });

            var laneQueue = builder.QueueDeclare(settings.QueueName, settings.Durable, settings.AutoDelete, settings.Exclusive, settings.QueueArguments);
            builder.QueueBind(laneExchange, laneQueue, settings.RoutingKey ?? "", settings.BindingArguments);
        }
    }
}
