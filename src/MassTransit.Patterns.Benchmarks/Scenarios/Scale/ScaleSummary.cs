namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// What a curve shows: figures over the whole curve, the growth class seen (constant, log, linear, worse) of each
/// figure that grows, and the sentence for the README.
/// </summary>
public sealed record ScaleSummary(IReadOnlyDictionary<string, double> Figures, IReadOnlyDictionary<string, string> Growth, string Sentence);
