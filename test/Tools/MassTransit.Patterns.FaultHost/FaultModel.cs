using System.Collections.Concurrent;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.FaultHost.Messages
{
    /// <summary>The producer's message: each must have its effect exactly once.</summary>
    public record WorkOrdered(int Sequence);

    /// <summary>What the consumer forwards through the outbox for each message it applies.</summary>
    public record WorkForwarded(Guid SourceMessageId, int Sequence);
}

namespace MassTransit.Patterns.FaultHost
{
    using Messages;

    /// <summary>
    /// One row per applied message, keyed by the message id. <see cref="Count"/> is incremented by a
    /// second application, which only happens when the inbox is bypassed: the fault tests read it.
    /// </summary>
    public sealed class AppliedEffect
    {
        public Guid MessageId { get; set; }
        public int Sequence { get; set; }
        public int Count { get; set; }
    }

    public sealed class FaultDb(DbContextOptions<FaultDb> options) : DbContext(options)
    {
        public DbSet<AppliedEffect> Effects => Set<AppliedEffect>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            var effect = modelBuilder.Entity<AppliedEffect>();
            effect.ToTable("applied_effects");
            effect.HasKey(e => e.MessageId);
            effect.Property(e => e.MessageId).ValueGeneratedNever();
            modelBuilder.AddEventForwardingEntities();
        }
    }

    /// <summary>
    /// What the consumer does besides its work: report each handling, and stall on one message so a test can kill it
    /// mid-handler (a chosen id, or in batched mode the last member of the first batch of more than one).
    /// </summary>
    public sealed class ConsumerHooks
    {
        readonly ConcurrentDictionary<Guid, bool> _batched = new(); // member of a batch of more than one -> last member of it
        int _handled;
        int _stalledInBatch;

        public Guid? StallOn { get; init; }

        public bool StallInBatch { get; init; }

        public Action<string> Report { get; init; } = _ => { };

        public int Handled => Volatile.Read(ref _handled);

        public ConcurrentDictionary<Guid, int> HandledById { get; } = new();

        /// <summary>A batch of more than one was claimed (batched mode's log event 4130, before its members run).</summary>
        public void OnBatchStarted(IReadOnlyList<Guid> messageIds)
        {
            if (messageIds.Count < 2)
                return;
            for (var i = 0; i < messageIds.Count; i++)
                _batched[messageIds[i]] = i == messageIds.Count - 1;
        }

        /// <summary>Whether the message was claimed in a batch of more than one.</summary>
        public bool InBatch(Guid messageId) => _batched.ContainsKey(messageId);

        public async Task OnHandledAsync(Guid messageId, bool redelivered, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _handled);
            HandledById.AddOrUpdate(messageId, 1, (_, n) => n + 1);
            Report($"HANDLING {messageId} redelivered={redelivered}");
            var lastOfBatch = StallInBatch && _batched.TryGetValue(messageId, out var last) && last && Interlocked.Exchange(ref _stalledInBatch, 1) == 0;
            if (messageId == StallOn || lastOfBatch)
            {
                Report($"STALLED {messageId}");
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
        }
    }

    /// <summary>Applies the effect through the scope's DbContext (inside the inbox/outbox transaction) and forwards an event.</summary>
    public sealed class ApplyWorkConsumer(FaultDb db, ConsumerHooks hooks) : IConsumer<WorkOrdered>
    {
        public async Task Consume(ConsumeContext<WorkOrdered> context)
        {
            var id = context.MessageId ?? throw new InvalidOperationException("no message id");
            var effect = await db.Effects.FindAsync([id], context.CancellationToken);
            if (effect is null)
                db.Effects.Add(new AppliedEffect { MessageId = id, Sequence = context.Message.Sequence, Count = 1 });
            else
                effect.Count++;
            await db.SaveChangesAsync(context.CancellationToken);

            await context.Publish(new WorkForwarded(id, context.Message.Sequence));
            await hooks.OnHandledAsync(id, context.ReceiveContext.Redelivered, context.CancellationToken);
        }
    }

    /// <summary>
    /// Kills the process right after the consumer's transaction committed and before MassTransit
    /// acknowledges the message: the crash the inbox exists for. The message is a chosen id, or with
    /// <paramref name="inBatch"/> the first whose batch of more than one committed (its batch-mates are
    /// committed too, and may or may not be acknowledged yet).
    /// </summary>
    public sealed class CrashAfterCommitFilter(Guid? crashOn, bool inBatch, ConsumerHooks hooks, Action<string> report) : IFilter<ConsumeContext>
    {
        int _crashing;

        public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
        {
            await next.Send(context);
            if (context.MessageId is { } id && (id == crashOn || (inBatch && hooks.InBatch(id))) && Interlocked.Exchange(ref _crashing, 1) == 0)
            {
                report($"COMMITTED {id}");
                System.Diagnostics.Process.GetCurrentProcess().Kill(); // SIGKILL: no acknowledgement, no clean-up
                await Task.Delay(Timeout.Infinite);
            }
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("crash-after-commit");
    }
}
