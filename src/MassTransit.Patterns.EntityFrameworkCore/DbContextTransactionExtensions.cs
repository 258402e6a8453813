using Microsoft.EntityFrameworkCore.Storage;

namespace MassTransit.Patterns.EntityFrameworkCore;

/// <summary>Transaction helpers shared by the outbox, the batched inbox and the saga repository.</summary>
static class DbContextTransactionExtensions
{
    /// <summary>Rolls back, ignoring a failure: the original failure matters; a failed rollback only means the connection is gone.</summary>
    public static async Task RollbackQuietlyAsync(this IDbContextTransaction transaction)
    {
        try
        {
            await transaction.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // See the summary.
        }
    }
}
