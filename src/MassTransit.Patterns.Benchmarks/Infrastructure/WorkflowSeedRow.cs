namespace MassTransit.Patterns.Benchmarks.Infrastructure;

/// <summary>One row of the workflow table as the benchmarks seed it (<see cref="WorkflowTableSeed"/>), its columns in COPY order.</summary>
sealed record WorkflowSeedRow(
    Guid CorrelationId,
    int Version,
    string State,
    string MessageType,
    string SourceAddress,
    string Body,
    string Headers,
    string ExceptionType,
    string ExceptionMessage,
    string ExceptionDetail,
    int Failures,
    int RepairAttempts,
    int Attempt,
    DateTimeOffset ReceivedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? ResolvedAt,
    int AuditCount,
    string Audit);
