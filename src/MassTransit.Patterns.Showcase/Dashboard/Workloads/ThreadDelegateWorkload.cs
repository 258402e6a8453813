using System.Collections.Concurrent;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>A posting to an account's ledger: postings of one account are applied in the order they were sent. An amount of zero or less is refused.</summary>
public record LedgerPosting(string AccountId, int Seq, decimal Amount);

/// <summary>
/// Thread delegate: postings for 30 accounts on 8 lanes with a slow ledger (bursts, one hot account now and then), and
/// <see cref="FailedKeyBehavior.Hold"/>: a refused posting holds its account. The later postings of a held account fault to
/// the error queue in order (<see cref="ThreadDelegateKeyHeldException"/>), where the <see cref="LedgerErrorDesk"/> keeps them
/// waiting; once the key is released (from the operations page) the desk sends them back in order and they are applied.
/// The refused posting itself stays with the desk (<see cref="LedgerErrorDesk.Refused"/>). The producer refuses a posting
/// now and then (while fewer than two accounts are held) and the back office releases its own accounts after
/// <see cref="BackOfficeRelease"/>; keys the browser tests use wait for the page.
/// </summary>
public sealed class ThreadDelegateWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-thread-delegate-ledger";
    public const string ErrorQueue = Queue + "_error";
    public const string AccountPrefix = "account-";
    public static readonly TimeSpan BackOfficeRelease = TimeSpan.FromSeconds(45);

    readonly ThreadDelegateControl _control = new();

    public string Name => "thread-delegate";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        // The control set as ThreadDelegateOptions.Control, registered so that the operations page finds it.
        services.AddSingleton(_control);
        services.AddSingleton<LedgerBook>();
        services.AddSingleton<LedgerErrorDesk>();
        services.AddHostedService<LedgerProducer>();
        services.AddHostedService<LedgerReplay>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context)
    {
        x.AddConsumer<LedgerPostingConsumer>().Endpoint(e => e.Name = Queue);
        // The error queue, read one message at a time: the order the postings were moved there.
        x.AddConsumer<LedgerErrorDeskConsumer>().Endpoint(e =>
        {
            e.Name = ErrorQueue;
            e.ConcurrentMessageLimit = 1;
            e.ConfigureConsumeTopology = false;
        });
    }

    public void ConfigureEndpoint(IRegistrationContext context, string queueName, IReceiveEndpointConfigurator cfg)
    {
        if (queueName != Queue)
            return;
        cfg.UseThreadDelegate(context, o =>
        {
            o.Key<LedgerPosting>(m => m.AccountId);
            o.Workers = 8;
            o.MaxBuffered = 48; // the endpoint takes Workers + MaxBuffered deliveries at a time
            o.FailedKey = FailedKeyBehavior.Hold;
            o.Control = _control;
            if (cfg is IRabbitMqReceiveEndpointConfigurator)
                o.UseRabbitMqDeliveryOrder();
        });
    }

    /// <summary>The postings applied, by message id (the latest 100 000).</summary>
    public sealed class LedgerBook
    {
        const int Capacity = 100_000;
        readonly ConcurrentDictionary<Guid, LedgerPosting> _applied = new();
        readonly ConcurrentQueue<Guid> _order = new();
        long _count;

        public long Count => Interlocked.Read(ref _count);

        public bool Applied(Guid messageId) => _applied.ContainsKey(messageId);

        public void Apply(Guid messageId, LedgerPosting posting)
        {
            if (!_applied.TryAdd(messageId, posting))
                return;
            Interlocked.Increment(ref _count);
            _order.Enqueue(messageId);
            while (_order.Count > Capacity && _order.TryDequeue(out var old))
                _applied.TryRemove(old, out _);
        }
    }

    sealed class LedgerPostingConsumer(LedgerBook book) : IConsumer<LedgerPosting>
    {
        public async Task Consume(ConsumeContext<LedgerPosting> context)
        {
            var posting = context.Message;
            if (posting.Amount <= 0)
                throw new InvalidOperationException($"Posting {posting.Seq} of {posting.AccountId} refused: the amount must be positive (was {posting.Amount}).");
            // The ledger write: slow, and slower for large amounts, so lanes stay busy and messages buffer.
            await Task.Delay(TimeSpan.FromMilliseconds(10 + (double)Math.Min(posting.Amount, 200m) / 10), context.CancellationToken);
            book.Apply(context.MessageId ?? Guid.Empty, posting);
        }
    }

    /// <summary>
    /// What reached the error queue: the refused postings (kept for a person), and the postings of held accounts, which
    /// wait here, in order, until their account is released and are then sent back (<see cref="LedgerReplay"/>).
    /// </summary>
    public sealed class LedgerErrorDesk
    {
        readonly Lock _lock = new();
        readonly Dictionary<string, List<(Guid MessageId, LedgerPosting Posting)>> _waiting = new(StringComparer.Ordinal);
        readonly ConcurrentDictionary<Guid, LedgerPosting> _refused = new();
        readonly ConcurrentDictionary<Guid, string> _arrived = new();
        readonly ConcurrentDictionary<Guid, int> _replayed = new();

        /// <summary>Refused postings by message id.</summary>
        public IReadOnlyDictionary<Guid, LedgerPosting> Refused => _refused;

        /// <summary>Every posting that reached the error queue, by message id, with why ("refused" or "held").</summary>
        public IReadOnlyDictionary<Guid, string> Arrived => _arrived;

        /// <summary>How often each posting was sent back after its account was released.</summary>
        public IReadOnlyDictionary<Guid, int> Replayed => _replayed;

        /// <summary>The postings of <paramref name="account"/> waiting for its release, in order.</summary>
        public IReadOnlyList<Guid> WaitingOf(string account)
        {
            lock (_lock)
                return _waiting.TryGetValue(account, out var list) ? list.Select(w => w.MessageId).ToArray() : [];
        }

        public int WaitingCount
        {
            get
            {
                lock (_lock)
                    return _waiting.Values.Sum(l => l.Count);
            }
        }

        internal void Arrive(Guid messageId, LedgerPosting posting, bool held)
        {
            _arrived[messageId] = held ? "held" : "refused";
            if (!held)
            {
                _refused[messageId] = posting;
                if (_refused.Count > 10_000)
                    foreach (var old in _refused.Keys.Take(1_000))
                        _refused.TryRemove(old, out _);
                return;
            }
            lock (_lock)
            {
                if (!_waiting.TryGetValue(posting.AccountId, out var list))
                    _waiting[posting.AccountId] = list = [];
                list.Add((messageId, posting));
            }
        }

        /// <summary>Takes the waiting postings of the accounts that are no longer held.</summary>
        internal List<(Guid MessageId, LedgerPosting Posting)> TakeReleased(ISet<string> held)
        {
            var taken = new List<(Guid, LedgerPosting)>();
            lock (_lock)
                foreach (var account in _waiting.Keys.Where(a => !held.Contains(a)).ToArray())
                {
                    taken.AddRange(_waiting[account]);
                    _waiting.Remove(account);
                }
            return taken;
        }

        internal void Replaying(Guid messageId) => _replayed.AddOrUpdate(messageId, 1, (_, n) => n + 1);
    }

    sealed class LedgerErrorDeskConsumer(LedgerErrorDesk desk) : IConsumer<LedgerPosting>
    {
        public Task Consume(ConsumeContext<LedgerPosting> context)
        {
            // The error transport writes why in the transport headers of the moved message.
            var exception = context.ReceiveContext.TransportHeaders.Get<string>(MessageHeaders.FaultExceptionType);
            desk.Arrive(context.MessageId ?? Guid.Empty, context.Message, exception == typeof(ThreadDelegateKeyHeldException).FullName);
            return Task.CompletedTask;
        }
    }

    /// <summary>Sends the waiting postings of released accounts back to the ledger, in order, with their message ids; releases the workload's own accounts after <see cref="BackOfficeRelease"/>.</summary>
    sealed class LedgerReplay(LedgerErrorDesk desk, ThreadDelegateControl control, IBus bus, TimeProvider time) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{Queue}"));
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(200), time);
            try
            {
                while (await timer.WaitForNextTickAsync(stoppingToken))
                {
                    var now = time.GetUtcNow();
                    foreach (var held in control.HeldKeys.Where(h => h.Key.StartsWith(AccountPrefix, StringComparison.Ordinal) && now - h.Since >= BackOfficeRelease))
                        control.Release(held.Endpoint, held.Key);
                    var stillHeld = control.HeldKeys.Where(h => h.Endpoint == Queue).Select(h => h.Key).ToHashSet(StringComparer.Ordinal);
                    foreach (var (id, posting) in desk.TakeReleased(stillHeld))
                    {
                        desk.Replaying(id);
                        await endpoint.Send(posting, c => c.MessageId = id, stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>Postings without end: bursts over 30 accounts, a hot account now and then, a refused posting every ~12 s while fewer than two accounts are held.</summary>
    sealed class LedgerProducer(IBus bus, ThreadDelegateControl control) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var random = new Random(21);
            var next = new int[30];
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{Queue}"));
                for (var tick = 1; !stoppingToken.IsCancellationRequested; tick++)
                {
                    var hot = tick % 100 < 20; // a fifth of the time one account takes a burst of its own, faster than its lane applies it
                    var count = random.Next(2, 8) + (hot ? 5 : 0);
                    for (var i = 0; i < count; i++)
                    {
                        var account = hot && i < 5 ? 7 : random.Next(next.Length);
                        var refuse = tick % 120 == 0 && i == 0 && control.HeldKeys.Count(h => h.Key.StartsWith(AccountPrefix, StringComparison.Ordinal)) < 2;
                        await endpoint.Send(new LedgerPosting(AccountPrefix + account, next[account]++, refuse ? 0 : random.Next(1, 200)), stoppingToken);
                    }
                    await Task.Delay(100, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
