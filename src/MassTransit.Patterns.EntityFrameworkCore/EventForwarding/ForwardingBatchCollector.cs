using System.Data;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The batched inbox of one endpoint. Each consumed message parks here (in its own flow, holding its
/// concurrency slot); a leader takes what is waiting, up to <see cref="ForwardingBatchOptions.MaxBatchSize"/>,
/// never waiting for more: under load a batch is what arrived while the previous one ran; a message that
/// finds no other in flight (a trickle) does not park and runs exactly as in per-message mode. A batch: one transaction on a connection
/// of its own scope's DbContext, one insert claiming every inbox key, each member's consumer run in turn
/// behind its own savepoint through its own scope (its DbContext enlisted on the batch's connection), one
/// insert of every member's outbox rows, one commit; then every member is released and acknowledged.
/// A consumer that throws is rolled back to its savepoint, its claim deleted, and it is released at once
/// with its exception; anything else that fails (the claim, the insert, the commit, the connection) splits
/// the batch: every member not yet released runs alone, once.
/// </summary>
sealed class ForwardingBatchCollector
{
    readonly Channel<ForwardingBatchMember> _waiting = Channel.CreateUnbounded<ForwardingBatchMember>();
    readonly ForwardingBatchOptions _options;
    readonly IServiceScopeFactory _scopes;
    readonly Func<IServiceProvider, DbContext> _dbContext;
    readonly string _dbContextName;
    readonly IsolationLevel _isolationLevel;
    readonly ForwardingMetrics _metrics;
    readonly ILogger _logger;
    readonly Action<IReadOnlyList<OutboxEntry>> _handoff;
    TaskCompletionSource? _paused;
    int _leaders;
    int _inFlight;
    int _parked;
    long _batchIds;

    public ForwardingBatchCollector(ForwardingBatchOptions options, IServiceScopeFactory scopes, Func<IServiceProvider, DbContext> dbContext, string dbContextName,
        IsolationLevel isolationLevel, ForwardingMetrics metrics, ILogger logger, Action<IReadOnlyList<OutboxEntry>> handoff)
    {
        _options = options;
        _scopes = scopes;
        _dbContext = dbContext;
        _dbContextName = dbContextName;
        _isolationLevel = isolationLevel;
        _metrics = metrics;
        _logger = logger;
        _handoff = handoff;
    }

    /// <summary>Members parked and not yet taken by a leader.</summary>
    internal int Parked => Volatile.Read(ref _parked);

    /// <summary>Tests: leaders take nothing until <see cref="Resume"/>, so that a known set of members forms one batch.</summary>
    internal void Pause() => Interlocked.CompareExchange(ref _paused, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);

    internal void Resume() => Interlocked.Exchange(ref _paused, null)?.TrySetResult();

    /// <summary>
    /// A message of this endpoint starts; returns true when another one is in flight (then it joins a batch)
    /// and false when it is the only one: at a trickle a message runs alone at once, with no hop through the
    /// collector. Every call is paired with <see cref="Leave"/>.
    /// </summary>
    public bool Enter() => Interlocked.Increment(ref _inFlight) > 1 || Volatile.Read(ref _paused) is not null;

    public void Leave() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Parks the member until its batch decided.</summary>
    public Task<ForwardingBatchOutcome> JoinAsync(ForwardingBatchMember member)
    {
        StartLeaders();
        Park(member);
        return member.Outcome;
    }

    void Park(ForwardingBatchMember member)
    {
        Interlocked.Increment(ref _parked);
        _waiting.Writer.TryWrite(member);
    }

    void StartLeaders()
    {
        while (true)
        {
            var leaders = Volatile.Read(ref _leaders);
            if (leaders >= _options.MaxConcurrentBatches)
                return;
            if (Interlocked.CompareExchange(ref _leaders, leaders + 1, leaders) != leaders)
                continue;
            // A clean flow: the leader must not carry the first member's log context or activity into every batch.
            using (ExecutionContext.SuppressFlow())
                _ = Task.Run(LeadAsync);
        }
    }

    async Task LeadAsync()
    {
        var reader = _waiting.Reader;
        var batch = new List<ForwardingBatchMember>(_options.MaxBatchSize);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (Volatile.Read(ref _paused) is { } paused)
                await paused.Task.ConfigureAwait(false);
            batch.Clear();
            Take(reader, batch);
            if (batch.Count < _options.MaxBatchSize)
            {
                // Not a timer: the leader goes to the back of the thread pool's queue once, so that messages
                // already on their way (queued work, not future arrivals) park before the batch closes.
                await Task.Yield();
                Take(reader, batch);
            }

            try
            {
                await RunAsync(batch).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                // RunAsync splits on its own failures; this is the last guard that nobody stays parked.
                foreach (var member in batch.Where(m => !m.IsReleased))
                    member.Release(ForwardingBatchOutcome.RunAlone);
                _logger.BatchSplit(0, _dbContextName, batch.Count, exception.Message);
            }
        }
    }

    void Take(ChannelReader<ForwardingBatchMember> reader, List<ForwardingBatchMember> batch)
    {
        while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var member))
        {
            Interlocked.Decrement(ref _parked);
            batch.Add(member);
        }
    }

    async Task RunAsync(List<ForwardingBatchMember> batch)
    {
        var keys = new HashSet<(Guid, Guid)>();
        var candidates = new List<ForwardingBatchMember>(batch.Count);
        foreach (var member in batch)
        {
            if (member.CancellationToken.IsCancellationRequested)
                member.ReleaseCancelled();
            else if (!keys.Add((member.MessageId, member.ConsumerId)))
                Park(member); // A second copy waits for the next batch, and then finds the first one's outcome.
            else if (!member.CanJoinConnection)
                member.Release(ForwardingBatchOutcome.RunAlone);
            else
                candidates.Add(member);
        }

        if (candidates.Count < 2)
        {
            // Alone: exactly the per-message path, no batch overhead at a trickle.
            foreach (var member in candidates)
                member.Release(ForwardingBatchOutcome.RunAlone);
            return;
        }

        var batchId = Interlocked.Increment(ref _batchIds);
        await using var scope = _scopes.CreateAsyncScope();
        var db = _dbContext(scope.ServiceProvider);
        var claimSql = InboxInsert.BatchClaimSql(db, candidates.Count);
        if (claimSql is null)
        {
            foreach (var member in candidates)
                member.Release(ForwardingBatchOutcome.RunAlone);
            return;
        }

        ExecutionStrategySuspension.Suspend(db);
        db.Database.AutoSavepointsEnabled = false;
        IDbContextTransaction? transaction = null;
        try
        {
            transaction = await db.Database.BeginTransactionAsync(_isolationLevel, CancellationToken.None).ConfigureAwait(false);
            var claimed = await ClaimAsync(db, claimSql, candidates).ConfigureAwait(false);
            var running = new List<ForwardingBatchMember>(candidates.Count);
            foreach (var member in candidates)
            {
                if (claimed.Contains((member.MessageId, member.ConsumerId)))
                {
                    running.Add(member);
                    continue;
                }
                // Counted once decided, before the member's pipe acknowledges the copy.
                _metrics.DuplicateSuppressed(member.ConsumerType);
                member.Release(ForwardingBatchOutcome.Duplicate);
            }

            if (_logger.IsEnabled(LogLevel.Debug))
                _logger.BatchStarted(batchId, _dbContextName, running.Count, Ids(running));

            var connection = db.Database.GetDbConnection();
            var dbTransaction = transaction.GetDbTransaction();
            var succeeded = new List<ForwardingBatchMember>(running.Count);
            var rows = new List<OutboxEntry>();
            for (var i = 0; i < running.Count; i++)
            {
                var member = running[i];
                var savepoint = "mtp_member_" + i;
                // The provider's own savepoint: Npgsql writes it ahead of the member's first statement (no round trip),
                // where EF's CreateSavepointAsync sends a SAVEPOINT command of its own.
                if (dbTransaction.SupportsSavepoints)
                    await dbTransaction.SaveAsync(savepoint, CancellationToken.None).ConfigureAwait(false);
                else
                    await transaction.CreateSavepointAsync(savepoint, CancellationToken.None).ConfigureAwait(false);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    rows.AddRange(await member.RunAsync(connection, dbTransaction).ConfigureAwait(false));
                    succeeded.Add(member);
                }
                catch (Exception exception)
                {
                    // The transaction survives a failed statement once rolled back to the member's savepoint;
                    // if it does not (the connection is gone), this throws and the batch splits.
                    if (dbTransaction.SupportsSavepoints)
                        await dbTransaction.RollbackAsync(savepoint, CancellationToken.None).ConfigureAwait(false);
                    else
                        await transaction.RollbackToSavepointAsync(savepoint, CancellationToken.None).ConfigureAwait(false);
                    await db.Database.ExecuteSqlRawAsync(InboxInsert.DeleteSql(db), [member.MessageId, member.ConsumerId], CancellationToken.None)
                        .ConfigureAwait(false);
                    _metrics.BatchMemberFailures.Add(1, new KeyValuePair<string, object?>(ForwardingMetrics.ConsumerTag, member.ConsumerType));
                    _logger.MemberFailed(batchId, _dbContextName, member.MessageId, exception.Message);
                    member.Release(ForwardingBatchOutcome.Failed(exception));
                }

                var elapsed = Stopwatch.GetElapsedTime(started);
                if (elapsed >= _options.SlowMemberWarning)
                    _logger.SlowMember(batchId, _dbContextName, member.MessageId, (long)elapsed.TotalMilliseconds, running.Count - 1);
            }

            if (rows.Count > 0)
            {
                db.AddRange(rows);
                await db.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
            }
            await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);

            foreach (var member in succeeded)
                member.Release(ForwardingBatchOutcome.Committed);
            if (succeeded.Count > 0)
                _metrics.BatchSize.Record(succeeded.Count, new KeyValuePair<string, object?>(ForwardingMetrics.DbContextTag, _dbContextName));
            if (_logger.IsEnabled(LogLevel.Debug))
                _logger.BatchCommitted(batchId, _dbContextName, succeeded.Count, Ids(succeeded));
            _handoff(rows);
        }
        catch (Exception exception)
        {
            if (transaction is not null)
                await transaction.RollbackQuietlyAsync().ConfigureAwait(false);
            var split = candidates.Where(m => !m.IsReleased).ToList();
            _metrics.BatchSplits.Add(1, new KeyValuePair<string, object?>(ForwardingMetrics.DbContextTag, _dbContextName));
            _logger.BatchSplit(batchId, _dbContextName, split.Count, exception.Message);
            foreach (var member in split)
                member.Release(ForwardingBatchOutcome.RunAlone);
        }
        finally
        {
            if (transaction is not null)
                await transaction.DisposeAsync().ConfigureAwait(false);
        }
    }

    static async Task<HashSet<(Guid, Guid)>> ClaimAsync(DbContext db, string sql, List<ForwardingBatchMember> members)
    {
        var sorted = members.Select(m => (m.MessageId, m.ConsumerId)).Order().ToList();
        var parameters = new object[2 * sorted.Count + 1];
        for (var i = 0; i < sorted.Count; i++)
        {
            parameters[2 * i] = sorted[i].MessageId;
            parameters[2 * i + 1] = sorted[i].ConsumerId;
        }
        parameters[^1] = DateTime.UtcNow;
        var claimed = await db.Database.SqlQueryRaw<ClaimedInboxKey>(sql, parameters).ToListAsync(CancellationToken.None).ConfigureAwait(false);
        return claimed.Select(k => (k.MessageId, k.ConsumerId)).ToHashSet();
    }

    static string Ids(List<ForwardingBatchMember> members) => string.Join(",", members.Select(m => m.MessageId.ToString("D")));
}
