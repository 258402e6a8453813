using MassTransit.Patterns.Multibroker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MassTransit.Patterns.Health;

/// <summary>The multibroker's brokers: one out of rotation makes it Degraded (naming it and why), too few in rotation Unhealthy.</summary>
sealed class MultibrokerHealthCheck(IServiceProvider services, PatternsHealthCheckOptions options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<IMultibroker>() is not { } multibroker)
            return Task.FromResult(HealthFindings.NotChecked("IMultibroker (AddMultibroker)"));
        var findings = new HealthFindings();
        var brokers = multibroker.Brokers.Select(b => (b.Name, b.State, b.LastFailure)).ToArray();
        var outOfRotation = brokers.Where(b => b.State != BrokerState.Healthy).ToArray();
        var inRotation = brokers.Length - outOfRotation.Length;
        foreach (var broker in brokers)
            findings.Data(broker.Name, broker.State == BrokerState.Healthy ? "Healthy" : $"{broker.State}: {broker.LastFailure ?? "no reason recorded"}");
        findings.Data("inRotation", inRotation);
        var named = string.Join("; ", outOfRotation.Select(b => $"{b.Name} is {b.State} ({b.LastFailure ?? "no reason recorded"})"));
        if (inRotation < options.BrokersInRotationUnhealthyBelow)
            findings.Problem(HealthStatus.Unhealthy,
                $"{inRotation} of {brokers.Length} brokers in rotation (unhealthy below {options.BrokersInRotationUnhealthyBelow}): {named}.");
        else if (outOfRotation.Length >= options.BrokersOutDegraded)
            findings.Problem(HealthStatus.Degraded, $"{outOfRotation.Length} of {brokers.Length} brokers out of rotation: {named}.");
        return Task.FromResult(findings.Result($"{inRotation} of {brokers.Length} brokers in rotation."));
    }
}
