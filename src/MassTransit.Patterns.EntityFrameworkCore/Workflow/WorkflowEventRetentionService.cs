using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EntityFrameworkCore.Workflow;

/// <summary>
/// Removes workflow rows that were resolved (Completed or Discarded) longer than
/// <see cref="WorkflowEventRetentionOptions.Retention"/> ago, in batches, every
/// <see cref="WorkflowEventRetentionOptions.Interval"/>. Rows that wait for a person, or are still
/// being repaired, are never removed. Several instances may run it: a row goes to whichever gets there first.
/// </summary>
sealed partial class WorkflowEventRetentionService<TDbContext> : BackgroundService
    where TDbContext : DbContext
{
    static readonly string[] Resolved = ["Completed", "Discarded"];
    readonly Counter<long> _removed;

    readonly IServiceScopeFactory _scopes;
    readonly WorkflowEventRetentionOptions _options;
    readonly TimeProvider _time;
    readonly ILogger _logger;

    /// <summary>Created once by the container.</summary>
    public WorkflowEventRetentionService(IServiceScopeFactory scopes, IOptions<WorkflowEventRetentionOptions> options,
        ILogger<WorkflowEventRetentionService<TDbContext>> logger, PatternsMeter meter, TimeProvider? time = null)
    {
        _removed = meter.Meter.CreateCounter<long>(
            PatternsDiagnostics.InstrumentPrefix + "workflow.retention_removed", "{row}", "Resolved workflow rows removed after their retention.");
        _scopes = scopes;
        _options = options.Value;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RemoveExpiredAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception)
            {
                LogRetentionFailed(_logger, typeof(TDbContext).Name, exception.Message);
            }

            try
            {
                await Task.Delay(_options.Interval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Removes every resolved row past its retention; returns how many.</summary>
    public async Task<int> RemoveExpiredAsync(CancellationToken cancellationToken)
    {
        var cutoff = _time.GetUtcNow() - _options.Retention;
        var total = 0;
        while (true)
        {
            await using var scope = _scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
            var expired = await ExpiredIdsAsync(db, cutoff, cancellationToken).ConfigureAwait(false);
            if (expired.Count == 0)
                return total;
            var removed = await db.Set<WorkflowEventState>()
                .Where(x => expired.Contains(x.CorrelationId) && Resolved.Contains(x.CurrentState))
                .ExecuteDeleteAsync(cancellationToken).ConfigureAwait(false);
            total += removed;
            _removed.Add(removed);
            if (expired.Count < _options.BatchSize)
                return total;
        }
    }

    async Task<List<Guid>> ExpiredIdsAsync(TDbContext db, DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        var resolved = db.Set<WorkflowEventState>().AsNoTracking().Where(x => Resolved.Contains(x.CurrentState) && x.ResolvedAt != null);
        if (db.Database.ProviderName != "Microsoft.EntityFrameworkCore.Sqlite")
            return await resolved.Where(x => x.ResolvedAt < cutoff).Select(x => x.CorrelationId).Take(_options.BatchSize)
                .ToListAsync(cancellationToken).ConfigureAwait(false);

        // SQLite cannot compare DateTimeOffset values in SQL: the resolved rows' times are compared here.
        var ids = new List<Guid>();
        await foreach (var row in resolved.Select(x => new { x.CorrelationId, x.ResolvedAt }).AsAsyncEnumerable().WithCancellation(cancellationToken)
                           .ConfigureAwait(false))
        {
            if (row.ResolvedAt < cutoff)
            {
                ids.Add(row.CorrelationId);
                if (ids.Count == _options.BatchSize)
                    break;
            }
        }
        return ids;
    }

    [LoggerMessage(EventId = 4311, Level = LogLevel.Warning, Message = "Workflow rows of {DbContext}: retention clean-up failed, tried again next interval: {Reason}")]
    static partial void LogRetentionFailed(ILogger logger, string dbContext, string reason);
}
