namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// What the lane needs from a transport: a fork in the broker's topology that copies every message
/// carrying the urgent mark, on its way into queue X, to the lane queue as well; a test, at X, that
/// tells such a copy apart (X drops it: the lane has the original's twin); and any transport-level
/// mark the fork routes on. One implementation per transport: in-memory here, RabbitMQ in
/// MassTransit.Patterns.RabbitMQ.
/// </summary>
/// <remarks>
/// Routing in the broker, rather than rewriting the destination at the sender, is what keeps
/// addresses unchanged (request/response, faults, scheduling and redelivery work as usual), lets a
/// producer mark a message without knowing which endpoints have a lane, and makes an urgent
/// publish reach the lane of each subscriber that has one and the normal queue of the others.
/// </remarks>
public interface IAmbulanceLaneTransport
{
    /// <summary>A short name for logs: <c>in-memory</c>, <c>rabbitmq</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Adds the fork to the normal queue's topology (declared by the queue's endpoint when it starts,
    /// before it consumes, so that nothing reaches the queue without its lane copy), reading the
    /// lane endpoint's settings to declare the lane queue the same way the lane endpoint does.
    /// </summary>
    void ConfigureFork(IReceiveEndpointConfigurator queueEndpoint, IReceiveEndpointConfigurator laneEndpoint, AmbulanceLaneOptions lane);

    /// <summary>True when a message received on the normal queue was also routed to the lane by the fork.</summary>
    bool IsLaneCopy(ReceiveContext context);

    /// <summary>Called just before a message leaves (after every pipe and callback): adds any transport-level mark the fork routes on.</summary>
    void PrepareSend(SendContext context);
}
