using MassTransit.Patterns.Benchmarks.Infrastructure;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>The curves the <c>scale</c> scenario runs, in order: one line per pattern.</summary>
public static class ScaleCurves
{
    public static IReadOnlyList<IScaleCurve> All(BenchContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return
        [
            new ThreadDelegateScaleCurve(),
            new ContextualScaleCurve(),
            new WatchScaleCurve(),
            new WorkflowScaleCurve(),
            new SupervisorFleetScaleCurve(),
            new MultibrokerScaleCurve(),
        ];
    }
}
