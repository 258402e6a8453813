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

    /// <summary>What the consumer does besides its work: report each handling, and stall on one message so a test can kill it mid-handler.</summary>
    public sealed class ConsumerHooks
    {
        int _handled;

        public Guid? StallOn { get; init; }

        public Action<string> Report { get; init; } = _ => { };

        public int Handled => Volatile.Read(ref _handled);

        public ConcurrentDictionary<Guid, int> HandledById { get; } = new();

        public async Task OnHandledAsync(Guid messageId, bool redelivered, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _handled);
            HandledById.AddOrUpdate(messageId, 1, (_, n) => n + 1);
            Report($"HANDLING {messageId} redelivered={redelivered}");
            if (messageId == StallOn)
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
    /// acknowledges the message: the crash the inbox exists for.
    /// </summary>
    public sealed class CrashAfterCommitFilter(Guid crashOn, Action<string> report) : IFilter<ConsumeContext>
    {
        public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
        {
            await next.Send(context);
            if (context.MessageId == crashOn)
            {
                report($"COMMITTED {crashOn}");
                System.Diagnostics.Process.GetCurrentProcess().Kill(); // SIGKILL: no acknowledgement, no clean-up
                await Task.Delay(Timeout.Infinite);
            }
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("crash-after-commit");
    }
}
