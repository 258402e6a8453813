using MassTransit.Patterns.Benchmarks.Infrastructure;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// One pattern's curve in the <c>scale</c> scenario: its unit of work (keys, contexts, watchers, rows, instances,
/// brokers) grown step by step, each step measured on its own.
/// </summary>
public interface IScaleCurve
{
    /// <summary>The pattern's name in the results: thread-delegate, contextual, watch, workflow, supervisor-fleet, multibroker.</summary>
    string Pattern { get; }

    /// <summary>What grows, e.g. "distinct keys".</summary>
    string Unit { get; }

    /// <summary>The sizes measured, ascending (smaller with <see cref="BenchContext.Quick"/>).</summary>
    IReadOnlyList<long> Steps(BenchContext context);

    /// <summary>Measures one size. Named figures (throughput_per_s, latency_p99_ms, managed_bytes, broker_queues, ...).</summary>
    Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken);

    /// <summary>
    /// Figures over the whole curve (bytes_per_idle_key, throughput ratio, ...), the growth class seen and the sentence a
    /// user needs; called after every step ran.
    /// </summary>
    ScaleSummary Summarize(IReadOnlyList<ScaleStep> steps);
}
