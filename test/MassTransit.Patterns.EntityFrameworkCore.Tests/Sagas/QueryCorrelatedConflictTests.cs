using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas.BumpMessages;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas.BumpMessages
{
    public record OpenBump(Guid BumpId, string Group);

    public record BumpGroup(string Group);
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas
{
    using BumpMessages;

    /// <summary>A saga whose instances share a group; an event correlated by query bumps every instance of a group.</summary>
    public sealed class BumpState : SagaStateMachineInstance
    {
        public Guid CorrelationId { get; set; }
        public string CurrentState { get; set; } = "";
        public string Group { get; set; } = "";
        public int Bumps { get; set; }

        /// <summary>Incremented by <see cref="ConcurrentTouch"/> behind the repository's back.</summary>
        public int Touches { get; set; }

        /// <summary>The message ids of the bumps applied, comma separated.</summary>
        public string AppliedBy { get; set; } = "";
    }

    /// <summary>
    /// The interference: armed with a group, the first bump applied (the first instance of the message's
    /// first attempt, before the repository has written anything) updates every other instance of the
    /// group through a connection of its own, as a concurrent event would. Whatever the repository
    /// saved of the message before then conflicts on the touched instance.
    /// </summary>
    public sealed class ConcurrentTouch(IServiceScopeFactory scopes)
    {
        int _armed;
        Guid[] _group = [];

        /// <summary>What the touch did: rows updated, or why it was refused.</summary>
        public string? Outcome { get; private set; }

        public bool Touched { get; private set; }

        public void Arm(Guid[] group)
        {
            _group = group;
            Outcome = null;
            Touched = false;
            Volatile.Write(ref _armed, 1);
        }

        public async Task OnBumping(Guid instance)
        {
            if (Interlocked.Exchange(ref _armed, 0) == 0)
                return;

            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<BumpDb>();
            // A store that serializes the repository's transaction makes this wait for its commit, which
            // cannot come while this hook runs inside it: the wait is refused, not raced.
            db.Database.SetCommandTimeout(TimeSpan.FromSeconds(1));
            var others = _group.Where(x => x != instance).ToList();
            try
            {
                var rows = await db.Set<BumpState>().Where(x => others.Contains(x.CorrelationId))
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(x => x.Touches, x => x.Touches + 1)
                        .SetProperty(x => EF.Property<int>(x, "Version"), x => EF.Property<int>(x, "Version") + 1));
                Touched = rows == others.Count;
                Outcome = $"touched {rows} of {others.Count}";
            }
            catch (Exception exception) when (IsLockWait(exception))
            {
                Outcome = $"refused while the message held its lock: {exception.GetType().Name}: {exception.Message}";
            }
        }

        static bool IsLockWait(Exception exception) => exception switch
        {
            SqliteException { SqliteErrorCode: 5 } => true, // SQLITE_BUSY: the database's write lock is held
            PostgresException { SqlState: "57014" } => true, // statement cancelled by the command timeout
            NpgsqlException { InnerException: TimeoutException } => true,
            _ => exception.InnerException is { } inner && IsLockWait(inner)
        };
    }

    public sealed class BumpStateMachine : MassTransitStateMachine<BumpState>
    {
        public BumpStateMachine(ConcurrentTouch touch)
        {
            InstanceState(x => x.CurrentState);
            Event(() => Opened, e => e.CorrelateById(m => m.Message.BumpId));
            Event(() => Bumped, e =>
            {
                e.CorrelateBy((saga, m) => saga.Group == m.Message.Group);
                e.OnMissingInstance(m => m.Fault());
            });

            Initially(When(Opened)
                .Then(c => c.Saga.Group = c.Message.Group)
                .TransitionTo(Open));

            During(Open,
                When(Bumped).ThenAsync(async c =>
                {
                    await touch.OnBumping(c.Saga.CorrelationId);
                    c.Saga.Bumps++;
                    c.Saga.AppliedBy += c.MessageId + ",";
                }));
        }

        public State Open { get; private set; } = null!;
        public Event<OpenBump> Opened { get; private set; } = null!;
        public Event<BumpGroup> Bumped { get; private set; } = null!;
    }

    public sealed class BumpSagaDefinition : SagaDefinition<BumpState>
    {
        protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<BumpState> sagaConfigurator,
            IRegistrationContext context)
        {
            endpointConfigurator.UseSagaConcurrencyRetry();
            endpointConfigurator.UseInMemoryOutbox(context);
        }
    }

    public sealed class BumpDb(DbContextOptions<BumpDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.AddSagaInstance<BumpState>(b =>
            {
                b.Property(x => x.CurrentState).HasMaxLength(64);
                b.Property(x => x.Group).HasMaxLength(64);
                b.HasIndex(x => x.Group);
            });
        }
    }

    /// <summary>
    /// An event correlated by query reaches several instances in one message. The repository must
    /// apply it to each once even when one of them is changed concurrently: the conflict on that one
    /// may not leave the others' updates committed for the retry to apply a second time.
    /// </summary>
    public sealed class QueryCorrelatedConflictTests
    {
        const int Rounds = 5;

        sealed class ConflictCounter : IDisposable
        {
            readonly MeterListener _listener = new();
            long _count;

            public ConflictCounter()
            {
                _listener.InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.saga.concurrency_conflicts")
                        l.EnableMeasurementEvents(instrument);
                };
                _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
                {
                    foreach (var tag in tags)
                        if (tag is { Key: "masstransit.saga.type", Value: nameof(BumpState) })
                            Interlocked.Add(ref _count, value);
                });
                _listener.Start();
            }

            public long Count => Interlocked.Read(ref _count);

            public void Dispose() => _listener.Dispose();
        }

        /// <summary>
        /// Where each message ended, by message id: consumed, or faulted (a retried attempt is not reported
        /// as a fault: MassTransit's retry context holds its fault back; the conflict counter counts it).
        /// (The harness's own lists are not used here: their synchronous Select can deadlock with the
        /// harness's inactivity timer, seen in a hang dump of this test.)
        /// </summary>
        sealed class Outcomes : IConsumeObserver
        {
            readonly ConcurrentDictionary<Guid, TaskCompletionSource> _consumed = new();
            readonly ConcurrentDictionary<Guid, ConcurrentQueue<Exception>> _failed = new();

            public async Task Consumed(Guid messageId, string what)
            {
                try
                {
                    await Completion(messageId).Task.WaitAsync(TimeSpan.FromSeconds(30));
                }
                catch (TimeoutException)
                {
                    throw new TimeoutException($"{what} ({messageId}) was not consumed within 30 s; faults: " +
                        string.Join("; ", Faults(messageId).Select(x => x.GetType().Name + ": " + x.Message)));
                }
            }

            public IReadOnlyCollection<Exception> Faults(Guid messageId) =>
                _failed.TryGetValue(messageId, out var failed) ? failed.ToArray() : [];

            public IReadOnlyCollection<Guid> Faulted => _failed.Keys.ToArray();

            TaskCompletionSource Completion(Guid messageId) =>
                _consumed.GetOrAdd(messageId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

            Task IConsumeObserver.PreConsume<T>(ConsumeContext<T> context) => Task.CompletedTask;

            Task IConsumeObserver.PostConsume<T>(ConsumeContext<T> context)
            {
                if (context.MessageId is { } id)
                    Completion(id).TrySetResult();
                return Task.CompletedTask;
            }

            Task IConsumeObserver.ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
            {
                if (context.MessageId is { } id)
                    _failed.GetOrAdd(id, _ => new ConcurrentQueue<Exception>()).Enqueue(exception);
                return Task.CompletedTask;
            }
        }

        [Theory]
        [InlineData(Store.Sqlite, SagaConcurrencyMode.Optimistic)]
        [InlineData(Store.PostgreSql, SagaConcurrencyMode.Optimistic)]
        [InlineData(Store.Sqlite, SagaConcurrencyMode.Pessimistic)]
        [InlineData(Store.PostgreSql, SagaConcurrencyMode.Pessimistic)]
        public async Task A_query_correlated_event_is_applied_once_to_each_instance_when_one_is_changed_concurrently(Store store, SagaConcurrencyMode mode)
        {
            using var conflicts = new ConflictCounter();
            await using var database = await ThrowawayDatabase<BumpDb>.CreateAsync(store == Store.PostgreSql, "bump", o => new BumpDb(o));
            var services = new ServiceCollection()
                .AddSingleton<ConcurrentTouch>()
                .AddDbContext<BumpDb>(database.Configure);
            services.AddMassTransitTestHarness(x =>
                x.AddSagaStateMachine<BumpStateMachine, BumpState>(typeof(BumpSagaDefinition))
                    .PatternsEntityFrameworkRepository(r =>
                    {
                        r.ExistingDbContext<BumpDb>();
                        r.ConcurrencyMode = mode;
                    }));
            services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));
            await using var provider = services.BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            var touch = provider.GetRequiredService<ConcurrentTouch>();
            var outcomes = new Outcomes();
            await harness.Start();
            var observer = harness.Bus.ConnectConsumeObserver(outcomes);
            try
            {
                for (var round = 0; round < Rounds; round++)
                {
                    var group = $"g{round}-{NewId.NextGuid():N}";
                    Guid[] ids = [NewId.NextGuid(), NewId.NextGuid()];
                    foreach (var id in ids)
                    {
                        var openId = NewId.NextGuid();
                        await harness.Bus.Publish(new OpenBump(id, group), c => c.MessageId = openId);
                        await outcomes.Consumed(openId, $"round {round}: open {id}");
                    }
                    Assert.Equal(2, (await Find(provider, ids)).Count(x => x.CurrentState == "Open"));

                    touch.Arm(ids);
                    var conflictsBefore = conflicts.Count;
                    var messageId = NewId.NextGuid();
                    await harness.Bus.Publish(new BumpGroup(group), c => c.MessageId = messageId);
                    await outcomes.Consumed(messageId, $"round {round}: the bump (touch: {touch.Outcome})");

                    var outcome = touch.Outcome;
                    Assert.NotNull(outcome);
                    var states = await Find(provider, ids);
                    Assert.Equal(2, states.Count);
                    foreach (var state in states)
                    {
                        Assert.True(state.Bumps == 1, $"round {round}, {mode} on {store}: instance {state.CorrelationId} bumps {state.Bumps}, applied by " +
                            $"[{state.AppliedBy}] (touch: {outcome}, conflicts {conflicts.Count - conflictsBefore})");
                        Assert.Equal($"{messageId},", state.AppliedBy);
                    }

                    // The touch landed on the other instance (its update conflicted once and the message was retried),
                    // or was refused while the message held its lock (no conflict): nothing in between.
                    Assert.Equal(touch.Touched ? 1 : 0, states.Sum(x => x.Touches));
                    Assert.Equal(touch.Touched ? 1 : 0, conflicts.Count - conflictsBefore);

                    // PostgreSQL reads without locks in optimistic mode, so the touch must land and the message conflict;
                    // a lock (pessimistic mode, or SQLite's write lock) refuses it.
                    if (store == Store.PostgreSql && mode == SagaConcurrencyMode.Optimistic)
                        Assert.True(touch.Touched, $"round {round}: the touch landed ({outcome})");
                    if (mode == SagaConcurrencyMode.Pessimistic)
                        Assert.False(touch.Touched, $"round {round}: the lock refused the touch ({outcome})");
                }

                // Every message is accounted for: each was consumed (awaited above, by message id) and none faulted.
                Assert.Empty(outcomes.Faulted);
            }
            finally
            {
                observer.Disconnect();
                await harness.Stop();
            }
        }

        static async Task<List<BumpState>> Find(IServiceProvider provider, Guid[] ids)
        {
            await using var scope = provider.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<BumpDb>().Set<BumpState>().AsNoTracking()
                .Where(x => ids.Contains(x.CorrelationId)).ToListAsync();
        }
    }
}
