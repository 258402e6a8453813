using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.Requests;
using MassTransit.Patterns.Supervisor.Fleet;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Supervisor;

/// <summary>One look's parts: the depth reading, the fleet's answer and the consumer-seconds integral.</summary>
internal sealed partial class ConsumerSupervisor
{
    async Task<(QueueDepthSample? Sample, QueueDepthProbeException? Failure)> ReadDepthAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Bounded whatever the probe does: a probe that ignores its token costs one probe timeout, and its late answer is dropped.
            var sample = await _depth.ReadAsync(Options.ProbeTimeout, cancellationToken).ConfigureAwait(false);
            _ = sample.Measure(Options.DepthMeasure);
            return (sample, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (QueueDepthProbeException exception)
        {
            return (null, exception);
        }
        catch (Exception exception)
        {
            return (null, new QueueDepthProbeException(Queue, _probe.Name, exception is OperationCanceledException ? QueueDepthFailure.Timeout : QueueDepthFailure.Unreachable,
                exception.Message, exception));
        }
    }

    async Task<SupervisorShareAssigned?> AskFleetAsync(QueueDepthSample? sample, QueueDepthProbeException? failure, int waiting, int limit,
        CancellationToken cancellationToken)
    {
        var report = new ReportSupervisorInstance
        {
            CorrelationId = SupervisorFleet.CorrelationIdOf(Queue),
            Queue = Queue,
            InstanceId = _instanceId,
            Ready = sample?.Ready,
            Unacknowledged = sample?.Unacknowledged,
            ProbeFailure = failure?.Message,
            Active = _gate.Active,
            Waiting = waiting,
            Limit = limit,
            MinConsumers = Options.MinConsumers,
            MaxConsumers = Options.MaxConsumers,
            MessagesPerConsumer = Options.MessagesPerConsumer,
            ScaleUpStep = Options.ScaleUpStep,
            ScaleDownCooldown = Options.ScaleDownCooldown,
            ScaleDownHysteresis = Options.ScaleDownHysteresis,
            DepthMeasure = Options.DepthMeasure,
            InstanceTimeout = Options.Fleet!.EffectiveInstanceTimeout(Options.PollInterval)
        };
        try
        {
            var timeout = Options.Fleet.RequestTimeout;
            // Bounded as a whole: a heartbeat whose send waits for the broker must not stop the looks (BoundedRequest).
            var response = await BoundedRequest.GetAsync(token => _fleetClient!().GetResponse<SupervisorShareAssigned>(report, token,
                RequestTimeout.After(ms: (int)timeout.TotalMilliseconds)), timeout, cancellationToken).ConfigureAwait(false);
            if (Interlocked.Exchange(ref _fleetFailures, 0) > 0)
                LogFleetRecovered(Queue);
            _lastFleetSize = Math.Max(1, response.Message.Instances);
            return response.Message;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception)
        {
            var failures = Interlocked.Increment(ref _fleetFailures);
            _instruments?.FleetFailures.Add(1, _queueTag, SupervisorInstruments.PatternTag);
            LogFleetFailed(Queue, failures, _gate.Limit, exception.Message);
            return null;
        }
    }

    void Integrate(DateTimeOffset now)
    {
        if (_integratedUntil is { } since && now > since)
        {
            var seconds = _gate.Limit * (now - since).TotalSeconds;
            _consumerSeconds += seconds;
            _instruments?.ConsumerSeconds.Add(seconds, _queueTag, SupervisorInstruments.PatternTag);
        }
        _integratedUntil = now;
    }
}
