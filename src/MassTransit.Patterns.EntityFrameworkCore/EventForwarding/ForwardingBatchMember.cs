using System.Data;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// One (message, consumer) waiting in a <see cref="ForwardingBatchCollector"/>: parked in its own flow
/// until the batch decides (<see cref="Outcome"/>), run by the batch's leader on the batch's connection
/// and transaction through its own scope's DbContext (<see cref="RunAsync"/>).
/// </summary>
abstract class ForwardingBatchMember
{
    readonly TaskCompletionSource<ForwardingBatchOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected ForwardingBatchMember(DbContext db, Guid messageId, Guid consumerId, string? consumerType, CancellationToken cancellationToken)
    {
        Db = db;
        MessageId = messageId;
        ConsumerId = consumerId;
        ConsumerType = consumerType;
        CancellationToken = cancellationToken;
    }

    /// <summary>The message scope's DbContext, the instance its consumer gets.</summary>
    public DbContext Db { get; }

    public Guid MessageId { get; }

    public Guid ConsumerId { get; }

    public string? ConsumerType { get; }

    public CancellationToken CancellationToken { get; }

    public Task<ForwardingBatchOutcome> Outcome => _outcome.Task;

    public bool IsReleased => _outcome.Task.IsCompleted;

    /// <summary>Hands the decision back to the member's flow (once; later calls are ignored).</summary>
    public void Release(ForwardingBatchOutcome outcome) => _outcome.TrySetResult(outcome);

    public void ReleaseCancelled() => _outcome.TrySetCanceled(CancellationToken);

    /// <summary>
    /// Whether its DbContext can take the batch's connection: nothing opened on its own connection and no
    /// transaction of its own (a filter before the outbox used it). Otherwise it runs alone.
    /// </summary>
    public bool CanJoinConnection =>
        Db.Database.CurrentTransaction is null && Db.Database.GetDbConnection().State == ConnectionState.Closed;

    /// <summary>
    /// Runs the consumer inside the batch's transaction (its DbContext enlisted on the batch's connection,
    /// detached again afterwards) under the member's own execution context; returns the outbox rows it
    /// produced, not yet saved. Throws the consumer's exception.
    /// </summary>
    public abstract Task<IReadOnlyList<OutboxEntry>> RunAsync(DbConnection connection, DbTransaction transaction);

    protected async Task<TResult> EnlistedAsync<TResult>(DbConnection connection, DbTransaction transaction, Func<Task<TResult>> run)
    {
        ExecutionStrategySuspension.Suspend(Db);
        var database = Db.Database;
        var autoSavepoints = database.AutoSavepointsEnabled;
        var connectionString = database.GetConnectionString();
        database.SetDbConnection(connection, contextOwnsConnection: false);
        try
        {
            await database.UseTransactionAsync(transaction, CancellationToken.None).ConfigureAwait(false);
            // The member's savepoint covers its SaveChanges; EF's own would cost a RELEASE each.
            database.AutoSavepointsEnabled = false;
            return await run().ConfigureAwait(false);
        }
        finally
        {
            database.AutoSavepointsEnabled = autoSavepoints;
            if (database.CurrentTransaction is not null)
            {
                await database.UseTransactionAsync(null, CancellationToken.None).ConfigureAwait(false);
                // Balances the open that UseTransaction counted; the batch's connection stays open (not opened by this context).
                await database.CloseConnectionAsync().ConfigureAwait(false);
            }
            database.SetDbConnection(null, contextOwnsConnection: false);
            if (connectionString is not null)
                database.SetConnectionString(connectionString);
        }
    }
}
