using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Health;

/// <summary>
/// What one check found: each problem with its status and reason, and the data entries. The result is the worst
/// status found, described by every reason found (worst first); Healthy when there is none.
/// </summary>
sealed class HealthFindings
{
    readonly List<(HealthStatus Status, string Reason)> _problems = [];
    readonly Dictionary<string, object> _data = new(StringComparer.Ordinal) { ["checked"] = true };

    public void Problem(HealthStatus status, string reason) => _problems.Add((status, reason));

    public void Data(string key, object value) => _data[key] = value;

    public HealthCheckResult Result(string healthy)
    {
        if (_problems.Count == 0)
            return HealthCheckResult.Healthy(healthy, _data);
        var ordered = _problems.OrderBy(p => p.Status).ToArray();   // Unhealthy (0) before Degraded (1)
        _data["reasons"] = ordered.Select(p => p.Reason).ToArray();
        return new HealthCheckResult(ordered[0].Status, string.Join(" ", ordered.Select(p => p.Reason)), null, _data);
    }

    /// <summary>The component of this check is not registered: nothing to check, which is not a failure.</summary>
    public static HealthCheckResult NotChecked(string component) =>
        HealthCheckResult.Healthy($"Not checked: {component} is not registered.",
            new Dictionary<string, object>(StringComparer.Ordinal) { ["checked"] = false, ["reason"] = $"{component} is not registered" });

    /// <summary>The status of a count (or an age) against its Degraded and Unhealthy thresholds; null under both.</summary>
    public static HealthStatus? Against(double value, double degraded, double unhealthy) =>
        value >= unhealthy ? HealthStatus.Unhealthy : value >= degraded ? HealthStatus.Degraded : null;

    /// <summary>"degraded at X" or "unhealthy at Y", for a reason.</summary>
    public static string Threshold(HealthStatus status, object degraded, object unhealthy) =>
        status == HealthStatus.Unhealthy ? $"unhealthy at {unhealthy}" : $"degraded at {degraded}";
}
