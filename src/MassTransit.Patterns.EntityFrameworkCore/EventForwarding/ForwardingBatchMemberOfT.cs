using System.Data.Common;
using MassTransit.Middleware;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>A consumed <typeparamref name="TMessage"/> waiting for its batch, with the outbox pipe that runs its consumer.</summary>
sealed class ForwardingBatchMember<TDbContext, TMessage> : ForwardingBatchMember
    where TDbContext : DbContext
    where TMessage : class
{
    readonly ConsumeContext<TMessage> _context;
    readonly OutboxConsumeOptions _options;
    readonly IPipe<OutboxConsumeContext<TMessage>> _next;
    readonly IServiceProvider _provider;
    readonly TDbContext _db;
    readonly ExecutionContext? _executionContext;

    public ForwardingBatchMember(ConsumeContext<TMessage> context, OutboxConsumeOptions options, IPipe<OutboxConsumeContext<TMessage>> next,
        IServiceProvider provider, TDbContext db, Guid messageId)
        : base(db, messageId, options.ConsumerId, options.ConsumerType, context.CancellationToken)
    {
        _context = context;
        _options = options;
        _next = next;
        _provider = provider;
        _db = db;
        // The consumer runs on the leader's flow but with its own message's log context, activity and logging scopes.
        _executionContext = ExecutionContext.Capture();
    }

    public override Task<IReadOnlyList<OutboxEntry>> RunAsync(DbConnection connection, DbTransaction transaction)
    {
        if (_executionContext is null)
            return EnlistedAsync(connection, transaction, Consume);

        Task<IReadOnlyList<OutboxEntry>>? task = null;
        ExecutionContext.Run(_executionContext, _ => task = EnlistedAsync(connection, transaction, Consume), null);
        return task!;
    }

    async Task<IReadOnlyList<OutboxEntry>> Consume()
    {
        var outbox = new DbContextForwardingConsumeContext<TDbContext, TMessage>(_context, _options, _provider, _db, MessageId, consumed: false, batched: true);
        await _next.Send(outbox).ConfigureAwait(false);
        if (!outbox.IsMessageConsumed)
            throw new InvalidOperationException("The outbox pipe completed without saving the consumer's work.");
        return outbox.Rows;
    }
}
