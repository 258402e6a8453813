using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Supervisor.Fleet;

/// <summary>
/// The fleet arithmetic of the supervisor saga, kept apart from the state machine so it can be
/// read and tested alone: who is alive, what the fleet's target is, and each instance's share.
/// </summary>
internal static class SupervisorFleet
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>The saga's correlation id for <paramref name="queue"/>: the same on every instance, so they meet in one saga.</summary>
    public static Guid CorrelationIdOf(string queue)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("masstransit.patterns.supervisor:" + queue));
        // A name-based (version 5 style) GUID: stable, with the version and variant bits set.
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    /// <summary>Reads the instances stored in the saga.</summary>
    public static List<FleetInstance> ReadInstances(string? json) => Read<FleetInstance>(json);

    static List<T> Read<T>(string? json) => string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<T>>(json, Json) ?? [];

    static string Write<T>(IEnumerable<T> items) => JsonSerializer.Serialize(items, Json);

    /// <summary>
    /// Applies one heartbeat to the saga's state at <paramref name="now"/>: records the reporter,
    /// drops instances silent for longer than the report's instance timeout, decides the fleet's
    /// target with <see cref="SupervisorPolicy"/> (bounds are per-instance bounds times live
    /// instances; a failed reading holds the target) and divides it into shares that sum to it.
    /// </summary>
    /// <returns>The reporter's share.</returns>
    public static SupervisorShareAssigned Apply(ConsumerSupervisorState state, ReportSupervisorInstance report, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(report);
        state.Queue = report.Queue;

        var instances = ReadInstances(state.Instances);
        instances.RemoveAll(i => i.Id == report.InstanceId || now - i.LastSeen > report.InstanceTimeout);
        instances.Add(new FleetInstance(report.InstanceId, now, report.Active, report.Waiting, report.Limit));
        instances.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));

        var rules = new ScalingRules(report.MinConsumers, report.MaxConsumers, report.MessagesPerConsumer, report.ScaleUpStep,
            report.ScaleDownCooldown, report.ScaleDownHysteresis).ForFleet(instances.Count);
        var current = new ScalingState(state.Target, state.LowerSince, Read<LevelReading>(state.RecentLower));
        var depth = Depth(report, instances);
        var next = depth is { } d
            ? SupervisorPolicy.Decide(current, d, now, rules).State
            : current with { Level = Math.Clamp(current.Level, rules.Min, rules.Max) };

        state.Target = next.Level;
        state.LowerSince = next.LowerSince;
        state.RecentLower = Write(next.Recent ?? []);
        state.Depth = depth;
        state.UpdatedAt = now;

        // Equal shares, the remainder one each to the first instances in id order: the shares sum to
        // the target, and each lies in [min, max] because the target lies in [n * min, n * max].
        var share = state.Target / instances.Count;
        var remainder = state.Target % instances.Count;
        for (var i = 0; i < instances.Count; i++)
            instances[i] = instances[i] with { Share = share + (i < remainder ? 1 : 0) };
        state.Instances = Write(instances);
        state.InstanceCount = instances.Count;

        return new SupervisorShareAssigned
        {
            CorrelationId = state.CorrelationId,
            Queue = state.Queue,
            InstanceId = report.InstanceId,
            Share = instances.First(i => i.Id == report.InstanceId).Share,
            Target = state.Target,
            Instances = instances.Count,
            Depth = depth
        };
    }

    /// <summary>
    /// The fleet's depth: ready in the broker plus what every live instance holds waiting
    /// (<see cref="DepthMeasure.Ready"/>), or ready plus unacknowledged; null when the report has none.
    /// </summary>
    static long? Depth(ReportSupervisorInstance report, List<FleetInstance> instances) => report switch
    {
        { Ready: null } => null,
        { DepthMeasure: DepthMeasure.Ready, Ready: { } ready } => ready + instances.Sum(i => (long)i.Waiting),
        { Ready: { } ready, Unacknowledged: { } unacked } => ready + unacked,
        _ => null
    };
}
