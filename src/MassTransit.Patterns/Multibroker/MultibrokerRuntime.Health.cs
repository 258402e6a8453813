using System.Collections.Concurrent;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.Multibroker;

/// <summary>Health: the periodic read of every bus's connection, the probes, and the rotation changes they cause.</summary>
sealed partial class MultibrokerRuntime
{
    async Task HealthLoopAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Options.HealthCheckInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                CheckHealth();
                Deduplicator.Sweep();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Reads every started bus's health once, starts the probes that are due (an ejected broker whose
    /// ejection is over, a broker in rotation every <see cref="MultibrokerOptions.ProbeInterval"/>; they
    /// run in the background, bounded by <see cref="MultibrokerOptions.ProbeTimeout"/>) and records
    /// brokers leaving or rejoining the rotation.
    /// </summary>
    internal void CheckHealth()
    {
        foreach (var broker in Brokers)
        {
            if (broker.BusControl is { } bus)
            {
                bool connected;
                string? reason;
                try
                {
                    connected = broker.Transport.IsConnected(bus, out reason);
                }
                catch (Exception e)
                {
                    connected = false;
                    reason = e.Message;
                }
                broker.Health.Observe(connected, reason);
                if (broker.Health.TryBeginProbe())
                    TrackProbe(ProbeAsync(broker, bus));
            }
            NoteRotation(broker, broker.State.ToString().ToLowerInvariant());
        }
    }

    readonly ConcurrentDictionary<Task, byte> _probes = new();

    void TrackProbe(Task probe)
    {
        _probes[probe] = 0;
        _ = probe.ContinueWith(t => _probes.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>One probe of one broker, bounded by the probe timeout whatever the transport does; its outcome settles the broker's health.</summary>
    async Task ProbeAsync(MultibrokerBroker broker, IBusControl bus)
    {
        await Task.Yield();
        string? failure = null;
        using var timeout = new CancellationTokenSource(Options.ProbeTimeout, _time);
        Task probe;
        try
        {
            probe = broker.Transport.ProbeAsync(bus, timeout.Token);
        }
        catch (Exception e)
        {
            probe = Task.FromException(e);
        }
        try
        {
            await probe.WaitAsync(Options.ProbeTimeout, _time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The wait's own timeout, or the probe's, which may complete (faulted) in the same instant: both mean no answer.
            failure = $"no answer to a probe within {Options.ProbeTimeout}";
            AbandonedTask.Observe(probe);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            failure = $"no answer to a probe within {Options.ProbeTimeout}";
        }
        catch (Exception e)
        {
            failure = $"probe failed: {e.GetBaseException().Message}";
        }

        if (failure is null)
        {
            broker.Health.ProbeSucceeded();
            NoteRotation(broker, "probe");
            return;
        }
        _metrics.ProbeFailed(broker.Name);
        var wasIn = broker.Health.InRotation;
        if (broker.Health.ProbeFailed(failure) && !wasIn)
            MultibrokerLog.BrokerStillUnanswered(_logger, broker.Name, failure, broker.Health.EjectedFor);
        NoteRotation(broker, "probe_failure");
    }

    /// <summary>Logs and counts a broker leaving or rejoining the rotation, once per change.</summary>
    void NoteRotation(MultibrokerBroker broker, string cause)
    {
        var inRotation = broker.Health.InRotation;
        if (!broker.SwapRotation(inRotation))
            return;
        broker.Health.CountRotationChange(inRotation);
        if (inRotation)
        {
            _metrics.Rejoined(broker.Name);
            MultibrokerLog.BrokerRejoined(_logger, broker.Name);
        }
        else
        {
            _metrics.Ejected(broker.Name, cause);
            MultibrokerLog.BrokerLeft(_logger, broker.Name, broker.State, broker.LastFailure ?? "");
        }
    }

    /// <summary>Holds a broker out of rotation (an operator's action): see <see cref="IMultibroker.Hold"/>.</summary>
    public bool Hold(string name, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        var broker = Find(name);
        if (!broker.Health.Hold(reason))
            return false;
        MultibrokerLog.BrokerHeld(_logger, broker.Name, reason);
        NoteRotation(broker, "held");
        return true;
    }

    /// <summary>Ends a hold: see <see cref="IMultibroker.Release"/>.</summary>
    public bool Release(string name)
    {
        var broker = Find(name);
        if (!broker.Health.Release())
            return false;
        MultibrokerLog.BrokerReleased(_logger, broker.Name, broker.State);
        NoteRotation(broker, "released");
        return true;
    }

    MultibrokerBroker Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Brokers.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.Ordinal))
            ?? throw new ArgumentException($"No broker is named '{name}' (brokers: {string.Join(", ", Brokers.Select(b => b.Name))}).", nameof(name));
    }

    /// <summary>A broker's state for an error message: why it is out, and when it is tried next.</summary>
    string Describe(MultibrokerBroker broker)
    {
        var state = broker.State;
        var reason = broker.LastFailure ?? "no reason recorded";
        switch (state)
        {
            case BrokerState.Starting:
                var next = broker.NextStartAt;
                return next == 0
                    ? $"{broker.Name}: Starting (its bus is starting now)"
                    : $"{broker.Name}: Starting (not started: {reason}; next start attempt in {Math.Max(0, (next - _time.GetTimestamp()) / (double)_time.TimestampFrequency):0.0} s)";
            case BrokerState.Disconnected:
                return $"{broker.Name}: Disconnected ({reason}; back once its bus reconnects)";
            case BrokerState.Ejected:
                return $"{broker.Name}: Ejected ({reason}; probed again in {broker.Health.EjectedFor.TotalSeconds:0.0} s)";
            case BrokerState.Probing:
                return $"{broker.Name}: Probing ({reason}; back once a probe answers)";
            case BrokerState.Held:
                return $"{broker.Name}: Held ({reason}; back once an operator releases it)";
            default:
                return $"{broker.Name}: {state}";
        }
    }
}
