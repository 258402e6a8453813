using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>The statements the delivery and clean-up services run, in one place (and checkable offline for SQL Server).</summary>
static class ForwardingQueries
{
    public const string LeaseName = "outbox-delivery";

    /// <summary>The oldest undelivered groups, by the sequence number of their first row.</summary>
    public static IQueryable<Guid> PendingGroups(DbContext db, int limit) =>
        db.Set<OutboxEntry>()
            .GroupBy(x => x.OutboxId)
            .Select(g => new { OutboxId = g.Key, First = g.Min(x => x.SequenceNumber) })
            .OrderBy(g => g.First)
            .Take(limit)
            .Select(g => g.OutboxId);

    /// <summary>
    /// The outbox's backlog in one statement: how many rows wait (every row does: a delivered row is deleted) and the oldest
    /// <see cref="OutboxEntry.SentTime"/>, as one aggregate over the table (no row when the table is empty). No index
    /// serves it better than the table itself: the count visits every row anyway, and the minimum is taken in the same pass.
    /// </summary>
    public static IQueryable<BacklogRow> Backlog(DbContext db) =>
        db.Set<OutboxEntry>()
            .GroupBy(x => 1)
            .Select(g => new BacklogRow(g.LongCount(), g.Min(x => (DateTime?)x.SentTime)));

    /// <summary>Runs <see cref="Backlog"/>: (0, null) for an empty outbox.</summary>
    public static async Task<(long Pending, DateTime? Oldest)> ReadBacklogAsync(DbContext db, CancellationToken cancellationToken)
    {
        // One group or none: read as a list (a First would add a TOP/LIMIT and EF Core's warning about First without OrderBy).
        var rows = await Backlog(db).AsNoTracking().ToListAsync(cancellationToken).ConfigureAwait(false);
        return rows.Count == 0 ? (0, null) : (rows[0].Pending, rows[0].Oldest);
    }

    /// <summary>One row of <see cref="Backlog"/>.</summary>
    public sealed record BacklogRow(long Pending, DateTime? Oldest);

    /// <summary>The rows of <paramref name="groups"/>, lowest positions first, so that a group cut by the limit continues next round.</summary>
    public static IQueryable<OutboxEntry> GroupRows(DbContext db, List<Guid> groups, int limit) =>
        db.Set<OutboxEntry>().AsNoTracking()
            .Where(x => groups.Contains(x.OutboxId))
            .OrderBy(x => x.Position).ThenBy(x => x.SequenceNumber)
            .Take(limit);

    /// <summary>The most sequence numbers one delete carries where each is a parameter of its own (SQL Server allows 2,100 parameters per statement).</summary>
    public const int DeleteChunk = 2000;

    /// <summary>
    /// Deletes delivered rows: one statement on PostgreSQL (one array parameter), one per
    /// <see cref="DeleteChunk"/> rows elsewhere (EF Core sends each value of the list as a parameter).
    /// </summary>
    public static async Task<int> DeleteDelivered(DbContext db, IReadOnlyList<long> sequenceNumbers, CancellationToken cancellationToken)
    {
        if (sequenceNumbers.Count <= DeleteChunk || db.Database.ProviderName == "Npgsql.EntityFrameworkCore.PostgreSQL")
            return await Delete(db, sequenceNumbers as List<long> ?? [.. sequenceNumbers], cancellationToken).ConfigureAwait(false);

        var deleted = 0;
        foreach (var chunk in sequenceNumbers.Order().Chunk(DeleteChunk))
            deleted += await Delete(db, [.. chunk], cancellationToken).ConfigureAwait(false);
        return deleted;

        static Task<int> Delete(DbContext db, List<long> chunk, CancellationToken cancellationToken) =>
            db.Set<OutboxEntry>().Where(x => chunk.Contains(x.SequenceNumber)).ExecuteDeleteAsync(cancellationToken);
    }

    /// <summary>Takes the lease when it is free or expired, or renews it when <paramref name="owner"/> holds it: one conditional update.</summary>
    public static async Task<bool> TakeLease(DbContext db, Guid owner, DateTime now, DateTime until, CancellationToken cancellationToken) =>
        await db.Set<OutboxLease>()
            .Where(l => l.Name == LeaseName && (l.Owner == owner || l.ExpiresAt < now))
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.Owner, owner).SetProperty(l => l.ExpiresAt, until), cancellationToken) == 1;

    public static Task<int> ReleaseLease(DbContext db, Guid owner, DateTime now, CancellationToken cancellationToken) =>
        db.Set<OutboxLease>().Where(l => l.Name == LeaseName && l.Owner == owner)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.ExpiresAt, now), cancellationToken);

    public static Task<int> RemoveExpiredInbox(DbContext db, DateTime cutoff, int limit, CancellationToken cancellationToken) =>
        db.Set<InboxEntry>()
            .Where(x => x.Consumed < cutoff)
            .OrderBy(x => x.Consumed)
            .Take(limit)
            .ExecuteDeleteAsync(cancellationToken);
}
