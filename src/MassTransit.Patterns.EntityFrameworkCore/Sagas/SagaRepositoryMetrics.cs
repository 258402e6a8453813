using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.EntityFrameworkCore.Sagas;

/// <summary>The EF Core saga repository's instruments on the container's <c>MassTransit.Patterns</c> meter (a DI singleton).</summary>
sealed class SagaRepositoryMetrics(PatternsMeter meter)
{
    readonly Counter<long> _conflicts = meter.Meter.CreateCounter<long>(
        PatternsDiagnostics.InstrumentPrefix + "saga.concurrency_conflicts", "{conflict}",
        "Concurrent writes to one saga instance detected by the EF Core saga repository (each is retried).");

    /// <summary>Counts a concurrent write to an instance of <paramref name="sagaType"/> (<paramref name="what"/>: insert, update or delete).</summary>
    public void Conflict(Type sagaType, string what) =>
        _conflicts.Add(1, new KeyValuePair<string, object?>("masstransit.saga.type", sagaType.Name),
            new KeyValuePair<string, object?>("masstransit.patterns.conflict", what));
}
