using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas.Messages;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;

public enum Store
{
    InMemory,
    Sqlite,
    PostgreSql
}

/// <summary>
/// One test body per guarantee, run on MassTransit's in-memory repository, on SQLite and on
/// PostgreSQL: the EF Core repository must behave as the reference one does.
/// </summary>
public sealed class SagaRepositoryTests
{
    sealed class Rig : IAsyncDisposable
    {
        readonly ServiceProvider _provider;
        readonly Func<Task> _cleanup;

        Rig(ServiceProvider provider, Store store, Func<Task> cleanup)
        {
            _provider = provider;
            _cleanup = cleanup;
            Store = store;
            Harness = provider.GetRequiredService<ITestHarness>();
        }

        public Store Store { get; }

        public ITestHarness Harness { get; }

        public static async Task<Rig> StartAsync(Store store, SagaConcurrencyMode mode = SagaConcurrencyMode.Optimistic)
        {
            var services = new ServiceCollection();
            Func<Task> cleanup = () => Task.CompletedTask;
            switch (store)
            {
                case Store.Sqlite:
                    var file = Path.Combine(Path.GetTempPath(), $"mtp-saga-{Guid.NewGuid():N}.db");
                    services.AddDbContext<TallyDb>(o => o.UseSqlite($"Data Source={file};Pooling=False;Default Timeout=60"));
                    cleanup = () =>
                    {
                        foreach (var f in new[] { file, file + "-wal", file + "-shm" })
                            File.Delete(f);
                        return Task.CompletedTask;
                    };
                    break;
                case Store.PostgreSql:
                    var connection = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
                    { Database = $"saga_{Guid.NewGuid():N}"[..20], MaxPoolSize = 50 }.ConnectionString;
                    services.AddDbContext<TallyDb>(o => o.UseNpgsql(connection));
                    break;
            }

            services.AddMassTransitTestHarness(x =>
            {
                var saga = x.AddSagaStateMachine<TallyStateMachine, TallyState>(typeof(TallySagaDefinition));
                if (store == Store.InMemory)
                    saga.InMemoryRepository();
                else
                    saga.PatternsEntityFrameworkRepository(r =>
                    {
                        r.ExistingDbContext<TallyDb>();
                        r.ConcurrencyMode = mode;
                    });
            });
            services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));

            var provider = services.BuildServiceProvider(true);
            if (store != Store.InMemory)
            {
                await using var scope = provider.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<TallyDb>();
                await db.Database.EnsureDeletedAsync();
                await db.Database.EnsureCreatedAsync();
                if (store == Store.Sqlite)
                    await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
                var previous = cleanup;
                cleanup = async () =>
                {
                    await using var s = provider.CreateAsyncScope();
                    await s.ServiceProvider.GetRequiredService<TallyDb>().Database.EnsureDeletedAsync();
                    await previous();
                };
            }

            var rig = new Rig(provider, store, cleanup);
            await rig.Harness.Start();
            return rig;
        }

        /// <summary>The saga's stored state, read the way an application would read it.</summary>
        public async Task<TallyState?> FindAsync(Guid id)
        {
            if (Store == Store.InMemory)
            {
                var repository = _provider.GetRequiredService<ILoadSagaRepository<TallyState>>();
                return await repository.Load(id);
            }

            await using var scope = _provider.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<TallyDb>().Set<TallyState>().AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == id);
        }

        public async Task<int> CountAsync(Guid id)
        {
            if (Store == Store.InMemory)
                return await FindAsync(id) is null ? 0 : 1;
            await using var scope = _provider.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<TallyDb>().Set<TallyState>().CountAsync(x => x.CorrelationId == id);
        }

        public async ValueTask DisposeAsync()
        {
            await Harness.Stop();
            await _cleanup();
            await _provider.DisposeAsync();
        }
    }

    /// <summary>Counts the repository's conflict metric for the tally saga while a test runs.</summary>
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
                    if (tag is { Key: "masstransit.saga.type", Value: nameof(TallyState) })
                        Interlocked.Add(ref _count, value);
            });
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }

    [Theory]
    [InlineData(Store.InMemory)]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Fifty_concurrent_events_for_one_instance_are_each_applied_exactly_once(Store store)
    {
        using var conflicts = new ConflictCounter();
        await using var rig = await Rig.StartAsync(store);
        var id = NewId.NextGuid();

        await rig.Harness.Bus.Publish(new OpenTally(id, "fifty"));
        await Eventually.True(async () => await rig.FindAsync(id) is not null, TimeSpan.FromSeconds(30), "the tally is opened");

        await Task.WhenAll(Enumerable.Range(1, 50).Select(n => rig.Harness.Bus.Publish(new AddToTally(id, n))));
        await Eventually.True(async () => (await rig.FindAsync(id))?.Count >= 50, TimeSpan.FromSeconds(60), "all fifty additions applied",
            TimeSpan.FromMilliseconds(100));

        var state = (await rig.FindAsync(id))!;
        var applied = state.Applied.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        Assert.Equal(50, state.Count);
        Assert.Equal(Enumerable.Range(1, 50), applied.Order());
        Assert.False(await rig.Harness.Published.Any<Fault<AddToTally>>(), "no addition faulted");
        if (store != Store.InMemory)
            Assert.True(conflicts.Count > 0, $"concurrent updates on {store} conflicted and were retried (counted {conflicts.Count})");
    }

    [Theory]
    [InlineData(Store.InMemory)]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Two_racing_starts_with_one_correlation_id_make_one_instance(Store store)
    {
        await using var rig = await Rig.StartAsync(store);

        for (var round = 0; round < 5; round++)
        {
            var id = NewId.NextGuid();
            await Task.WhenAll(rig.Harness.Bus.Publish(new OpenTally(id, $"race-{round}")), rig.Harness.Bus.Publish(new OpenTally(id, $"race-{round}")));

            await Eventually.True(async () => (await rig.FindAsync(id))?.Opens == 2, TimeSpan.FromSeconds(30), "both starts applied to one instance");
            Assert.Equal(1, await rig.CountAsync(id));
        }
        Assert.False(await rig.Harness.Published.Any<Fault<OpenTally>>(), "no start faulted");
    }

    [Theory]
    [InlineData(Store.InMemory)]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_query_correlated_event_finalizes_and_the_completed_instance_is_removed(Store store)
    {
        await using var rig = await Rig.StartAsync(store);
        var id = NewId.NextGuid();
        var name = $"close-me-{id:N}";
        await rig.Harness.Bus.Publish(new OpenTally(id, name));
        await Eventually.True(async () => await rig.FindAsync(id) is not null, TimeSpan.FromSeconds(30), "opened");

        await rig.Harness.Bus.Publish(new CloseTallyByName(name));

        await Eventually.True(async () => await rig.CountAsync(id) == 0, TimeSpan.FromSeconds(30), "the finalized instance is deleted");
    }

    [Theory]
    [InlineData(Store.InMemory)]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task An_event_for_a_missing_instance_follows_the_state_machine_policy(Store store)
    {
        await using var rig = await Rig.StartAsync(store);
        var id = NewId.NextGuid();

        await rig.Harness.Bus.Publish(new AddToTally(id, 1));

        Assert.True(await rig.Harness.Published.Any<Fault<AddToTally>>(x => x.Context.Message.Message.TallyId == id), "missing instance faults, as configured");
        Assert.Equal(0, await rig.CountAsync(id));

        await rig.Harness.Bus.Publish(new CloseTallyByName("nobody"));
        Assert.True(await rig.Harness.Consumed.Any<CloseTallyByName>());
        Assert.False(await rig.Harness.Published.Any<Fault<CloseTallyByName>>(), "missing instance discarded, as configured");
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Pessimistic_locking_applies_concurrent_events_without_conflicts(Store store)
    {
        using var conflicts = new ConflictCounter();
        await using var rig = await Rig.StartAsync(store, SagaConcurrencyMode.Pessimistic);
        var id = NewId.NextGuid();
        await rig.Harness.Bus.Publish(new OpenTally(id, "locked"));
        await Eventually.True(async () => await rig.FindAsync(id) is not null, TimeSpan.FromSeconds(30), "opened");

        await Task.WhenAll(Enumerable.Range(1, 30).Select(n => rig.Harness.Bus.Publish(new AddToTally(id, n))));
        await Eventually.True(async () => (await rig.FindAsync(id))?.Count >= 30, TimeSpan.FromSeconds(60), "all applied", TimeSpan.FromMilliseconds(100));

        var state = (await rig.FindAsync(id))!;
        Assert.Equal(30, state.Count);
        Assert.Equal(Enumerable.Range(1, 30), state.Applied.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).Order());
        Assert.Equal(0, conflicts.Count);
    }
}
