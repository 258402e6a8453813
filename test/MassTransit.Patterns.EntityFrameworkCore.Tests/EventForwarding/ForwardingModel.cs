using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages
{
    /// <summary>Applies an effect once per message; forwards <c>Forward</c> events through the outbox; fails after that when asked.</summary>
    /// <param name="WorkMs">The consumer's own work after its writes (a call to another service), in ms.</param>
    /// <param name="TimeOut">Fails after its writes the way an HttpClient call that timed out does (TaskCanceledException, no token cancelled).</param>
    public record ApplyEffect(Guid EffectId, int Forward = 0, bool Fail = false, int WorkMs = 0, bool TimeOut = false);

    /// <summary>The event the effect's consumer forwards, numbered in the order it was sent.</summary>
    public record EffectForwarded(Guid EffectId, int Index);
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding
{
    using Messages;

    /// <summary>An applied effect: a second application of one message shows as Count 2.</summary>
    public sealed class Effect
    {
        public Guid EffectId { get; set; }
        public int Count { get; set; }
    }

    public sealed class ForwardingDb(DbContextOptions<ForwardingDb> options) : DbContext(options)
    {
        public DbSet<Effect> Effects => Set<Effect>();

        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.Entity<Effect>().HasKey(e => e.EffectId);
            modelBuilder.Entity<Effect>().Property(e => e.EffectId).ValueGeneratedNever();
            modelBuilder.AddEventForwardingEntities();
        }
    }

    /// <summary>Writes the effect through the scope's DbContext and forwards events through the consume context.</summary>
    public sealed class ApplyEffectConsumer(ForwardingDb db) : IConsumer<ApplyEffect>
    {
        public async Task Consume(ConsumeContext<ApplyEffect> context)
        {
            var effect = await db.Effects.FindAsync([context.Message.EffectId], context.CancellationToken);
            if (effect is null)
                db.Effects.Add(new Effect { EffectId = context.Message.EffectId, Count = 1 });
            else
                effect.Count++;
            await db.SaveChangesAsync(context.CancellationToken);

            for (var i = 0; i < context.Message.Forward; i++)
                await context.Publish(new EffectForwarded(context.Message.EffectId, i));

            if (context.Message.WorkMs > 0)
                await Task.Delay(context.Message.WorkMs, context.CancellationToken);
            if (context.Message.TimeOut)
                throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.", new TimeoutException("test"));
            if (context.Message.Fail)
                throw new InvalidOperationException("the effect's consumer failed after its writes (test)");
        }
    }

    /// <summary>What the downstream consumer received, in arrival order.</summary>
    public sealed class ForwardedLog
    {
        public ConcurrentQueue<(Guid MessageId, EffectForwarded Message)> Received { get; } = new();

        public IReadOnlyList<EffectForwarded> For(Guid effectId) => Received.Where(r => r.Message.EffectId == effectId).Select(r => r.Message).ToList();
    }

    public sealed class EffectForwardedConsumer(ForwardedLog log) : IConsumer<EffectForwarded>
    {
        public Task Consume(ConsumeContext<EffectForwarded> context)
        {
            log.Received.Enqueue((context.MessageId ?? Guid.Empty, context.Message));
            return Task.CompletedTask;
        }
    }

    /// <summary>Sums the event forwarding counters while a test runs.</summary>
    public sealed class ForwardingMetrics : IDisposable
    {
        /// <summary>Tests that read these process-wide metrics run one at a time, so no other test's sends are counted.</summary>
        public const string Collection = "event-forwarding metrics";

        readonly MeterListener _listener = new();
        readonly ConcurrentDictionary<string, double> _sums = new();
        readonly ConcurrentDictionary<string, double> _last = new();

        public ForwardingMetrics()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name.StartsWith("masstransit.patterns.event_forwarding.", StringComparison.Ordinal))
                    l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, _, _) => Record(i, v));
            _listener.SetMeasurementEventCallback<double>((i, v, _, _) => Record(i, v));
            _listener.Start();
        }

        void Record(Instrument instrument, double value)
        {
            var name = instrument.Name["masstransit.patterns.event_forwarding.".Length..];
            _last[name] = value;
            if (instrument is not ObservableInstrument<long> and not ObservableInstrument<double>)
                _sums.AddOrUpdate(name, value, (_, s) => s + value);
        }

        /// <summary>The sum of a counter (or of a histogram's values) since the listener started.</summary>
        public double Sum(string name) => _sums.TryGetValue(name, out var v) ? v : 0;

        /// <summary>How many values a histogram recorded.</summary>
        public double Last(string name)
        {
            _listener.RecordObservableInstruments();
            return _last.TryGetValue(name, out var v) ? v : double.NaN;
        }

        public void Dispose() => _listener.Dispose();
    }
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding
{
    /// <summary>
    /// What the receive pipeline reported per message id: consumed (also a copy the inbox
    /// acknowledged without running the consumer), faulted, or left undelivered (moved to _skipped).
    /// </summary>
    public sealed class ReceiveLog : IReceiveObserver
    {
        readonly ConcurrentQueue<(Guid? MessageId, string What)> _events = new();

        public int Count(Guid messageId, string what) => _events.Count(e => e.MessageId == messageId && e.What == what);

        public int Count(string what) => _events.Count(e => e.What == what);

        public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

        public Task PostReceive(ReceiveContext context)
        {
            if (!context.IsDelivered && !context.IsFaulted)
                _events.Enqueue((null, "skipped"));
            return Task.CompletedTask;
        }

        public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
            where T : class
        {
            _events.Enqueue((context.MessageId, "consumed"));
            return Task.CompletedTask;
        }

        public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
            where T : class
        {
            _events.Enqueue((context.MessageId, "faulted"));
            return Task.CompletedTask;
        }

        public Task ReceiveFault(ReceiveContext context, Exception exception)
        {
            _events.Enqueue((null, "receive-faulted"));
            return Task.CompletedTask;
        }
    }
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding
{
    /// <summary>
    /// Fails the first attempt of chosen messages after the consumer and its transaction completed,
    /// before MassTransit acknowledges: the crash between commit and acknowledgement, in process.
    /// </summary>
    public sealed class FailAfterCommitFilter(IReadOnlySet<Guid> messageIds) : IFilter<ConsumeContext>
    {
        readonly ConcurrentDictionary<Guid, int> _failed = new();

        public int Failures => _failed.Count;

        public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
        {
            await next.Send(context);
            if (context.MessageId is { } id && messageIds.Contains(id) && _failed.TryAdd(id, 1))
                throw new IOException("connection lost after the commit, before the acknowledgement (test)");
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("fail-after-commit");
    }
}
