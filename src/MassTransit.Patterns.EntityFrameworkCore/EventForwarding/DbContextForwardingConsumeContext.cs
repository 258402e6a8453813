using MassTransit.Middleware;
using MassTransit.Middleware.Outbox;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The consume context MassTransit's outbox pipe runs the consumer with: its sends and publishes
/// become outbox rows in the scope's DbContext, saved with the consumer's writes when the consumer
/// completes (<see cref="SetConsumed"/>) and committed with them and the inbox row by the factory.
/// Delivery is the background service's job, so the outbox counts as delivered here: a redelivered
/// copy of a consumed message only gets acknowledged.
/// </summary>
sealed class DbContextForwardingConsumeContext<TDbContext, TMessage> : OutboxConsumeContextProxy<TMessage>
    where TDbContext : DbContext
    where TMessage : class
{
    readonly TDbContext _db;
    readonly Guid _inboxMessageId;
    readonly bool _batched;
    readonly Guid _outboxId = NewId.NextGuid();
    readonly List<OutboxEntry> _rows = [];
    bool _consumed;
    int _position;

    public DbContextForwardingConsumeContext(ConsumeContext<TMessage> context, OutboxConsumeOptions options, IServiceProvider provider, TDbContext db,
        Guid inboxMessageId, bool consumed, bool batched = false)
        : base(context, options, provider)
    {
        _batched = batched;
        _db = db;
        _inboxMessageId = inboxMessageId;
        _consumed = consumed;
    }

    /// <summary>The outbox rows the consumer added, in position order (their sequence numbers are set once saved).</summary>
    public IReadOnlyList<OutboxEntry> Rows => _rows;

    public override bool ContinueProcessing { get; set; }

    public override bool IsMessageConsumed => _consumed;

    public override bool IsOutboxDelivered => true;

    public override int ReceiveCount => 1;

    public override long? LastSequenceNumber => null;

    public override async Task SetConsumed()
    {
        // Inside the factory's transaction a failure here fails the whole message (rolled back), so EF's
        // automatic savepoint around this save would only cost a round trip (its RELEASE).
        var autoSavepoints = _db.Database.AutoSavepointsEnabled;
        _db.Database.AutoSavepointsEnabled = false;
        try
        {
            await _db.SaveChangesAsync(CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _db.Database.AutoSavepointsEnabled = autoSavepoints;
        }
        _consumed = true;
    }

    public override Task SetDelivered() => Task.CompletedTask;

    public override Task<List<OutboxMessageContext>> LoadOutboxMessages() => Task.FromResult(new List<OutboxMessageContext>());

    public override Task NotifyOutboxMessageDelivered(OutboxMessageContext message) => Task.CompletedTask;

    public override Task RemoveOutboxMessages() => Task.CompletedTask;

    public override Task AddSend<T>(SendContext<T> context)
    {
        lock (_db)
        {
            var row = OutboxRows.Create(context, _outboxId, _position, _inboxMessageId, ConsumerId);
            // Batched, the batch saves every member's rows in one insert after the member succeeded.
            if (!_batched)
                _db.Add(row);
            _rows.Add(row);
            _position++;
        }
        return Task.CompletedTask;
    }
}
