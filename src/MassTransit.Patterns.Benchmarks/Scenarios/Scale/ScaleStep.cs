namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>One step of a curve: the size and its figures by name.</summary>
public sealed record ScaleStep(long Size, IReadOnlyDictionary<string, double> Figures);
