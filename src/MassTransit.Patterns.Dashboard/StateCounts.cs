namespace MassTransit.Patterns.Dashboard;

/// <summary>Messages per state: <c>GET {prefix}/api/counts</c>.</summary>
sealed record StateCounts(IReadOnlyDictionary<string, long> States, long Total);
