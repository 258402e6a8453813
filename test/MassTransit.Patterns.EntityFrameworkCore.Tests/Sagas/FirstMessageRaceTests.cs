using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas.RaceMessages;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas.RaceMessages
{
    public record StartRace(Guid RaceId, int Number);
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas
{
    /// <summary>A saga every message of which may be its first: each applied message appends its number.</summary>
    public sealed class RaceState : SagaStateMachineInstance
    {
        public Guid CorrelationId { get; set; }
        public string CurrentState { get; set; } = "";
        public int Count { get; set; }
        public string Applied { get; set; } = "";
    }

    /// <summary>
    /// Makes the first messages of one instance race: every message waits at the endpoint until all
    /// <see cref="Expected"/> have arrived (so they reach the repository together), and the first
    /// attempt of each in the initial state waits there until all have reached it (so every one of them
    /// loaded no row, and each writes a new instance). With <paramref name="holdAfterMeeting"/>, the met attempts then wait
    /// for <see cref="Release"/>, so that the test can fail the database just before they all write.
    /// </summary>
    public sealed class RaceGate(int expected, bool insertOnInitial, bool holdAfterMeeting = false)
    {
        readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly TaskCompletionSource _met = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly ConcurrentDictionary<int, bool> _initial = new();
        int _arrivals;

        public int Expected { get; } = expected;

        public bool InsertOnInitial { get; } = insertOnInitial;

        /// <summary>Whether all the messages met in the initial state (the race the test needs happened).</summary>
        public bool Met => _met.Task.IsCompleted;

        /// <summary>Completes when all the messages have met in the initial state.</summary>
        public Task Meeting => _met.Task;

        /// <summary>Lets the met attempts go on to write (with <c>holdAfterMeeting</c>).</summary>
        public void Release() => _released.TrySetResult();

        public Task ArriveAsync()
        {
            if (Interlocked.Increment(ref _arrivals) >= Expected)
                _arrived.TrySetResult();
            return _arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }

        public async Task MeetInInitialAsync(int number)
        {
            if (Met || !_initial.TryAdd(number, true))
                return;
            if (_initial.Count >= Expected)
                _met.TrySetResult();
            // Bounded, so that a repository that let a message see another's row fails the test's assertion instead of hanging.
            await Task.WhenAny(_met.Task, Task.Delay(TimeSpan.FromSeconds(20)));
            if (holdAfterMeeting)
                await Task.WhenAny(_released.Task, Task.Delay(TimeSpan.FromSeconds(30)));
        }
    }

    public sealed class RaceStateMachine : MassTransitStateMachine<RaceState>
    {
        public RaceStateMachine(RaceGate gate)
        {
            InstanceState(x => x.CurrentState);
            Event(() => Started, e =>
            {
                e.CorrelateById(m => m.Message.RaceId);
                if (gate.InsertOnInitial)
                {
                    e.InsertOnInitial = true;
                    e.SetSagaFactory(m => new RaceState { CorrelationId = m.Message.RaceId });
                }
            });

            Initially(When(Started)
                .ThenAsync(async c =>
                {
                    await gate.MeetInInitialAsync(c.Message.Number);
                    Apply(c.Saga, c.Message);
                })
                .TransitionTo(Running));
            During(Running, When(Started).Then(c => Apply(c.Saga, c.Message)));
        }

        static void Apply(RaceState saga, StartRace message)
        {
            saga.Count++;
            saga.Applied += message.Number + ",";
        }

        public State Running { get; private set; } = null!;
        public Event<StartRace> Started { get; private set; } = null!;
    }

    public sealed class RaceSagaDefinition : SagaDefinition<RaceState>
    {
        public RaceSagaDefinition()
        {
            ConcurrentMessageLimit = FirstMessageRaceTests.Messages;
        }

        protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<RaceState> sagaConfigurator,
            IRegistrationContext context)
        {
            var gate = context.GetRequiredService<RaceGate>();
            // Before the retry: each message arrives once, its retries do not wait again.
            endpointConfigurator.UseExecuteAsync(_ => gate.ArriveAsync());
            endpointConfigurator.UseSagaConcurrencyRetry();
            endpointConfigurator.UseInMemoryOutbox(context);
        }
    }

    public sealed class RaceDb(DbContextOptions<RaceDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) =>
            modelBuilder.AddSagaInstance<RaceState>(b => b.Property(x => x.CurrentState).HasMaxLength(64));
    }

    /// <summary>Alone, so that the log capture holds only this test's bus and database.</summary>
    [CollectionDefinition(Name, DisableParallelization = true)]
    public sealed class FirstMessageRaceCollection
    {
        public const string Name = "saga first-message race";
    }

    /// <summary>
    /// Several application instances starting at once send the first messages of one saga instance
    /// together (the supervisor fleet's heartbeats): each message finds no row and writes a new
    /// instance. The repository resolves the race (one row, every message applied once), and that
    /// is normal operation: nothing may log an error on the way.
    /// </summary>
    [Collection(FirstMessageRaceCollection.Name)]
    public sealed class FirstMessageRaceTests
    {
        public const int Messages = 12;

        static readonly TimeSpan Freeze = TimeSpan.FromSeconds(5);

        static TcpOutageProxy ProxyTo(ThrowawayDatabase<RaceDb> database)
        {
            var target = new NpgsqlConnectionStringBuilder(database.ConnectionString);
            return new TcpOutageProxy(target.Host!, target.Port);
        }

        static string ThroughProxy(ThrowawayDatabase<RaceDb> database, TcpOutageProxy proxy) =>
            new NpgsqlConnectionStringBuilder(database.ConnectionString) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;

        /// <summary>The repository's insert races on <see cref="RaceState"/>: a message that found the instance it was inserting.</summary>
        sealed class InsertRaces : IDisposable
        {
            readonly MeterListener _listener = new();
            long _count;

            public InsertRaces()
            {
                _listener.InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.saga.concurrency_conflicts")
                        l.EnableMeasurementEvents(instrument);
                };
                _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
                {
                    var race = false;
                    var ours = false;
                    foreach (var tag in tags)
                    {
                        race |= tag is { Key: "masstransit.patterns.conflict", Value: "insert" };
                        ours |= tag is { Key: "masstransit.saga.type", Value: nameof(RaceState) };
                    }
                    if (race && ours)
                        Interlocked.Add(ref _count, value);
                });
                _listener.Start();
            }

            public long Count => Interlocked.Read(ref _count);

            public void Dispose() => _listener.Dispose();
        }

        /// <remarks>
        /// With <paramref name="frozenDatabase"/> the application reaches PostgreSQL through a proxy that freezes, for 5 s,
        /// just as every first attempt has met and goes on to write: its inserts, locks and commits wait with their
        /// connections open (as at a stopped database process), then go through. The race must end the same way.
        /// Pessimistic mode runs only where its transactions let the first attempts meet: on PostgreSQL, whose
        /// locking read of a missing row locks nothing, and without <c>InsertOnInitial</c>, whose pre-insert
        /// holds the row's lock until the winner's message commits, after the meeting (as SQLite's
        /// <c>BEGIN IMMEDIATE</c> would hold the database's from the start).
        /// </remarks>
        [Theory]
        [InlineData(Store.PostgreSql, false, SagaConcurrencyMode.Optimistic, false)]
        [InlineData(Store.PostgreSql, true, SagaConcurrencyMode.Optimistic, false)]
        [InlineData(Store.PostgreSql, false, SagaConcurrencyMode.Pessimistic, false)]
        [InlineData(Store.Sqlite, false, SagaConcurrencyMode.Optimistic, false)]
        [InlineData(Store.Sqlite, true, SagaConcurrencyMode.Optimistic, false)]
        [InlineData(Store.PostgreSql, false, SagaConcurrencyMode.Optimistic, true)]
        [InlineData(Store.PostgreSql, true, SagaConcurrencyMode.Optimistic, true)]
        [InlineData(Store.PostgreSql, false, SagaConcurrencyMode.Pessimistic, true)]
        public async Task Concurrent_first_messages_make_one_instance_apply_each_once_and_log_no_error(Store store, bool insertOnInitial,
            SagaConcurrencyMode mode, bool frozenDatabase)
        {
            using var races = new InsertRaces();
            await using var database = await ThrowawayDatabase<RaceDb>.CreateAsync(store == Store.PostgreSql, "race", o => new RaceDb(o));
            // Declared after the database, so disposed before it: the proxy's connections are gone when it is dropped.
            await using var proxy = frozenDatabase ? ProxyTo(database) : null;
            var gate = new RaceGate(Messages, insertOnInitial, holdAfterMeeting: frozenDatabase);
            var services = new ServiceCollection();
            CapturedLogs.Use(services);
            services.AddSingleton(gate);
            services.AddDbContext<RaceDb>(proxy is null ? database.Configure : o => o.UseNpgsql(ThroughProxy(database, proxy)));
            services.AddMassTransitTestHarness(x => x.AddSagaStateMachine<RaceStateMachine, RaceState>(typeof(RaceSagaDefinition))
                .PatternsEntityFrameworkRepository(r =>
                {
                    r.ExistingDbContext<RaceDb>();
                    r.ConcurrencyMode = mode;
                }));
            services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));
            await using var provider = services.BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            var mark = CapturedLogs.Instance.Mark();
            await harness.Start();
            try
            {
                var id = NewId.NextGuid();
                await Task.WhenAll(Enumerable.Range(1, Messages).Select(n => harness.Bus.Publish(new StartRace(id, n))));
                if (proxy is not null)
                {
                    await gate.Meeting.WaitAsync(TimeSpan.FromSeconds(30));
                    proxy.Freeze();
                    gate.Release();
                    await Task.Delay(Freeze); // the fault schedule: the database answers nothing for this long
                    proxy.Thaw();
                    Assert.True(proxy.HeldReads > 0, "the freeze held up the race's database traffic");
                }

                await using var db = database.Open();
                await Eventually.True(async () => (await db.Set<RaceState>().AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == id))?.Count >= Messages,
                    TimeSpan.FromSeconds(60), $"all {Messages} messages applied", TimeSpan.FromMilliseconds(100));

                var rows = await db.Set<RaceState>().AsNoTracking().ToListAsync();
                var row = Assert.Single(rows);
                Assert.True(gate.Met, $"all {Messages} first attempts loaded no row and met in the initial state");
                Assert.Equal(Messages, row.Count);
                Assert.Equal(Enumerable.Range(1, Messages), row.Applied.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order());
                Assert.False(await harness.Published.Any<Fault<StartRace>>(), "no message faulted");
                // Where each message went: one inserted the row; every other one found it (on its first attempt when
                // applied to a new instance, which the retry replays on the row; on every attempt when it inserts first).
                if (insertOnInitial)
                    Assert.True(races.Count >= Messages - 1, $"at least {Messages - 1} inserts found the row (counted {races.Count})");
                else
                    Assert.Equal(Messages - 1, races.Count);
            }
            finally
            {
                await harness.Stop();
            }

            var entries = CapturedLogs.Instance.Since(mark);
            // The capture does see this bus's database commands and MassTransit's own logging.
            Assert.Contains(entries, e => e.Category == "Microsoft.EntityFrameworkCore.Database.Command" && e.Message.Contains("INSERT INTO"));
            Assert.Contains(entries, e => e.Category.StartsWith("MassTransit", StringComparison.Ordinal));
            var errors = entries.Where(e => e.Level >= LogLevel.Error).Select(e => e.ToString()).ToList();
            Assert.True(errors.Count == 0, $"{errors.Count} errors logged while first messages raced:\n" + string.Join("\n", errors));
        }
    }
}
