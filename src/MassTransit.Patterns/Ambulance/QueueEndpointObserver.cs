using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;
using MassTransit.Transports;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// Finds each lane's queue endpoint as it is configured: adds the lane-copy filter and the shared
/// slot filter, the fork to the queue's topology, and in ambulance mode raises the endpoint's
/// concurrency (and prefetch, if lower) by the lane's slots so idle lane slots can take normal work.
/// </summary>
sealed partial class QueueEndpointObserver(IReadOnlyList<LaneRegistration> lanes, IAmbulanceLaneTransport transport, AmbulanceMetrics metrics,
    ILogger logger)
    : IEndpointConfigurationObserver
{
    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator
    {
        var name = configurator.InputAddress.GetEndpointName();
        var lane = lanes.FirstOrDefault(l => string.Equals(l.Options.QueueName, name, StringComparison.Ordinal));
        if (lane is null || lane.QueueEndpointSeen)
            return;
        lane.QueueEndpointSeen = true;

        var options = lane.Options;
        var gate = lane.Gate!;
        var configuration = configurator as IReceiveEndpointConfiguration;
        var queueSlots = Math.Max(1, configuration?.ConcurrentMessageLimit ?? configuration?.PrefetchCount ?? 1);
        gate.QueueSlots = queueSlots;
        if (options.Mode == AmbulanceMode.Ambulance)
        {
            configurator.ConcurrentMessageLimit = gate.QueueEndpointLimit;
            if ((configuration?.PrefetchCount ?? 0) < gate.QueueEndpointLimit)
                configurator.PrefetchCount = gate.QueueEndpointLimit;
        }

        var pattern = lane.Source == LaneSource.Manual ? $"AmbulanceConfigurator.ReceiveEndpoint(\"{options.QueueName}\")"
            : lane.ConsumerType is { } consumer ? $"AmbulanceConfigurator.Endpoint<{consumer.Name}>"
            : $"AmbulanceConfigurator.Endpoint(\"{options.QueueName}\")";
        EndpointClaims.Claim(configurator, pattern, EndpointTakeover.None, EndpointTakeover.DeliveryOrder,
            $"consumes the urgent messages on a second endpoint, '{options.LaneName}', beside this endpoint's delivery order (a key's urgent and normal messages run at once)");

        configurator.ConfigureReceive(r => r.UseFilter(new LaneCopyFilter(transport, options, metrics)));
        configurator.UseFilter(new LaneSlotFilter(gate, lane: false, metrics));
        transport.ConfigureFork(configurator, lane.LaneEndpoint!, options);

        LaneConfigured(logger, options.LaneName, options.QueueName, options.Mode, options.ConcurrentMessageLimit, options.EffectivePrefetchCount,
            queueSlots, gate.QueueEndpointLimit, transport.Name);
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information,
        Message = "Ambulance lane {Lane} beside {Queue} on {Transport}: {Mode} mode, lane concurrency {LaneConcurrency} (prefetch {LanePrefetch}), queue slots {QueueSlots} (endpoint limit {QueueLimit})")]
    static partial void LaneConfigured(ILogger logger, string lane, string queue, AmbulanceMode mode, int laneConcurrency, int lanePrefetch,
        int queueSlots, int queueLimit, string transport);
}
