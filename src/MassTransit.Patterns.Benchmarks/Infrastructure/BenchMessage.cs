namespace MassTransit.Patterns.Benchmarks.Messages;

/// <summary>The message the throughput scenarios send.</summary>
public record BenchMessage(int Number);
