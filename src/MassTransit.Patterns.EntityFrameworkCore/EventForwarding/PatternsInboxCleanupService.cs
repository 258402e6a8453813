using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// Removes inbox rows older than <see cref="PatternsEntityFrameworkOutboxOptions.InboxRetention"/>, in
/// batches, every <see cref="PatternsEntityFrameworkOutboxOptions.CleanupInterval"/>. Several instances may
/// run it at once: a row is removed by whichever gets there first.
/// </summary>
sealed partial class PatternsInboxCleanupService<TDbContext> : BackgroundService
    where TDbContext : DbContext
{
    readonly ILogger _logger;
    readonly string _name = typeof(TDbContext).Name;
    readonly PatternsEntityFrameworkOutboxOptions _options;
    readonly IServiceScopeFactory _scopes;
    readonly ForwardingMetrics _metrics;

    /// <summary>Created once by the container.</summary>
    public PatternsInboxCleanupService(IServiceScopeFactory scopes, IOptionsMonitor<PatternsEntityFrameworkOutboxOptions> options, ILogger<PatternsInboxCleanupService<TDbContext>> logger,
        ForwardingMetrics metrics)
    {
        _metrics = metrics;
        _scopes = scopes;
        _options = options.Get(EntityFrameworkCoreEventForwardingConfigurationExtensions.OptionsName<TDbContext>());
        _logger = logger;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.CleanupInterval, stoppingToken).ConfigureAwait(false);
                await RemoveExpiredAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception)
            {
                LogCleanupFailed(_logger, _name, exception.Message);
            }
        }
    }

    /// <summary>Removes every inbox row older than the retention period; returns how many.</summary>
    public async Task<int> RemoveExpiredAsync(CancellationToken cancellationToken)
    {
        var total = 0;
        while (true)
        {
            await using var scope = _scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
            var cutoff = DateTime.UtcNow - _options.InboxRetention;
            var removed = await ForwardingQueries.RemoveExpiredInbox(db, cutoff, _options.CleanupBatchSize, cancellationToken).ConfigureAwait(false);
            total += removed;
            if (removed > 0)
                _metrics.InboxRemoved.Add(removed, new KeyValuePair<string, object?>(ForwardingMetrics.DbContextTag, _name));
            if (removed < _options.CleanupBatchSize)
                return total;
        }
    }

    [LoggerMessage(EventId = 4121, Level = LogLevel.Warning, Message = "Inbox {DbContext}: clean-up failed, tried again next interval: {Reason}")]
    static partial void LogCleanupFailed(ILogger logger, string dbContext, string reason);
}
