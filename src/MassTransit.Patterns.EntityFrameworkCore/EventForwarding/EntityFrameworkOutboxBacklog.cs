using MassTransit.Patterns.EventForwarding;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The backlog of the outbox of <typeparamref name="TDbContext"/>: its rows are deleted once delivered, so every row is
/// undelivered; one query counts them and finds the oldest <see cref="OutboxEntry.SentTime"/> (see
/// <see cref="ForwardingQueries.Backlog"/>). Registered by <c>AddPatternsEntityFrameworkOutbox&lt;TDbContext&gt;</c>.
/// </summary>
sealed class EntityFrameworkOutboxBacklog<TDbContext>(IServiceScopeFactory scopes, TimeProvider? time = null) : IOutboxBacklog
    where TDbContext : DbContext
{
    public string Name { get; } = typeof(TDbContext).Name;

    public async Task<OutboxBacklogReading> ReadAsync(CancellationToken cancellationToken = default)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<TDbContext>();
        var (pending, oldest) = await ForwardingQueries.ReadBacklogAsync(db, cancellationToken).ConfigureAwait(false);
        return new OutboxBacklogReading(pending, oldest is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null,
            (time ?? TimeProvider.System).GetUtcNow());
    }
}
