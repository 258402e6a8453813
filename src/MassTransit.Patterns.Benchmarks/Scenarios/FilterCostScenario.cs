using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Benchmarks.Micro;

namespace MassTransit.Patterns.Benchmarks.Scenarios;

/// <summary>
/// <c>filter-cost</c>: BenchmarkDotNet micro-benchmarks of the always-on filters, per message, in
/// process (no transport): <c>filter_ns.NAME</c> (mean time of a one-filter pipe),
/// <c>filter_extra_ns.NAME</c> (minus the empty pipe) and <c>filter_alloc_bytes.NAME</c>.
/// The end-to-end throughput cost of the same components is the <c>overhead</c> scenario.
/// </summary>
public sealed class FilterCostScenario : IBenchScenario
{
    public string Name => "filter-cost";

    public IReadOnlyList<string> Transports { get; } = [BenchContext.InMemory];

    public Task<BenchResult> RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var job = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(context.Quick ? 2 : 5)
            .WithIterationCount(context.Quick ? 5 : 15)
            .WithId(context.Quick ? "quick" : "default");
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default)
            .AddLogger(new ProgressLogger(context))
            .WithArtifactsPath(Path.Combine(context.OutputFolder, "filter-cost"))
            .WithOptions(ConfigOptions.DisableLogFile);

        var summary = BenchmarkRunner.Run<SendFilterBenchmarks>(config);
        var result = new BenchResult(Name, context.Transport)
            .Parameter("toolchain", "in-process")
            .Parameter("iterations", context.Quick ? 5 : 15);
        double? bare = null;
        foreach (var report in summary.Reports)
        {
            var name = report.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo.Trim('\'');
            if (report.ResultStatistics is not { } statistics)
                throw new InvalidOperationException($"filter-cost: benchmark '{name}' produced no result (see the log above).");
            if (name == "bare")
                bare = statistics.Mean;
        }
        foreach (var report in summary.Reports)
        {
            var name = report.BenchmarkCase.Descriptor.WorkloadMethodDisplayInfo.Trim('\'');
            var mean = report.ResultStatistics!.Mean;
            result.Metric($"filter_ns.{name}", mean);
            if (name != "bare" && bare is { } b)
                result.Metric($"filter_extra_ns.{name}", mean - b);
            result.Metric($"filter_alloc_bytes.{name}", report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) ?? 0);
        }
        return Task.FromResult(result);
    }

    /// <summary>Shows BenchmarkDotNet's progress lines (not its whole log) as the scenarios' progress.</summary>
    sealed class ProgressLogger(BenchContext context) : ILogger
    {
        public string Id => nameof(ProgressLogger);

        public int Priority => 0;

        public void Write(LogKind logKind, string text)
        {
        }

        public void WriteLine()
        {
        }

        public void WriteLine(LogKind logKind, string text)
        {
            if (logKind == LogKind.Header || text.StartsWith("// Benchmark:", StringComparison.Ordinal) || text.StartsWith("// ***** BenchmarkRunner: Finish", StringComparison.Ordinal))
                context.Progress(text.TrimStart('/', ' '));
        }

        public void Flush()
        {
        }
    }
}
