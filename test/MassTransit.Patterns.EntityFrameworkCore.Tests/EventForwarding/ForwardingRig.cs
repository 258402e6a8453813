using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>A database for the forwarding tests: a SQLite file or a fresh PostgreSQL database, deleted afterwards.</summary>
public sealed class ForwardingDatabase : IAsyncDisposable
{
    readonly ThrowawayDatabase<ForwardingDb> _database;

    ForwardingDatabase(Store store, ThrowawayDatabase<ForwardingDb> database)
    {
        Store = store;
        _database = database;
    }

    public Store Store { get; }

    public Action<DbContextOptionsBuilder> Configure => _database.Configure;

    public static async Task<ForwardingDatabase> CreateAsync(Store store)
    {
        if (store is not (Store.Sqlite or Store.PostgreSql))
            throw new ArgumentOutOfRangeException(nameof(store), store, "the inbox and outbox need a relational database");
        return new ForwardingDatabase(store,
            await ThrowawayDatabase<ForwardingDb>.CreateAsync(store == Store.PostgreSql, "fwd", o => new ForwardingDb(o), maxPoolSize: 40));
    }

    public ForwardingDb Open() => _database.Open();

    public async Task<T> Read<T>(Func<ForwardingDb, Task<T>> read)
    {
        await using var db = Open();
        return await read(db);
    }

    public ValueTask DisposeAsync() => _database.DisposeAsync();
}

/// <summary>
/// A bus under the test harness (in-memory transport) whose <c>apply-effect</c> endpoint runs
/// <see cref="ApplyEffectConsumer"/> inside the inbox/outbox transaction, and whose
/// <c>forwarded</c> endpoint records what the outbox delivered, one at a time in arrival order.
/// </summary>
public sealed class ForwardingRig : IAsyncDisposable
{
    public const string ApplyQueue = "apply-effect";

    readonly ServiceProvider _provider;

    ForwardingRig(ServiceProvider provider, ForwardingDatabase database)
    {
        _provider = provider;
        Database = database;
        Harness = provider.GetRequiredService<ITestHarness>();
    }

    public ForwardingDatabase Database { get; }

    public ITestHarness Harness { get; }

    public IServiceProvider Services => _provider;

    public ForwardedLog Forwarded => _provider.GetRequiredService<ForwardedLog>();

    public ReceiveLog Received => _provider.GetRequiredService<ReceiveLog>();

    public static async Task<ForwardingRig> StartAsync(ForwardingDatabase database, Action<ForwardingEndpointOptions>? endpoint = null,
        Action<IReceiveEndpointConfigurator>? beforeConsumers = null, Action<PatternsEntityFrameworkOutboxOptions>? outbox = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var services = new ServiceCollection();
        configureServices?.Invoke(services);
        services
            .AddSingleton<ForwardedLog>()
            .AddSingleton<ReceiveLog>()
            .AddDbContext<ForwardingDb>(database.Configure);
        services.AddReceiveObserver(sp => sp.GetRequiredService<ReceiveLog>());
        services.AddMassTransitTestHarness(x =>
        {
            x.AddPatternsEntityFrameworkOutbox<ForwardingDb>(o =>
            {
                o.DeliveryInterval = TimeSpan.FromMilliseconds(100);
                o.BacklogSampleInterval = TimeSpan.FromMilliseconds(100);
                outbox?.Invoke(o);
            });
            x.AddConsumer<ApplyEffectConsumer>().Endpoint(e => e.Name = ApplyQueue);
            x.AddConsumer<EffectForwardedConsumer>().Endpoint(e =>
            {
                e.Name = "forwarded";
                e.ConcurrentMessageLimit = 1;
                e.PrefetchCount = 1;
            });
            x.AddConfigureEndpointsCallback((context, name, cfg) =>
            {
                if (name != ApplyQueue)
                    return;
                beforeConsumers?.Invoke(cfg);
                cfg.UsePatternsEntityFrameworkOutbox<ForwardingDb>(context, endpoint);
            });
        });
        services.Configure<TestHarnessOptions>(o => o.TestTimeout = TimeSpan.FromSeconds(60));
        var provider = services.BuildServiceProvider(true);
        var rig = new ForwardingRig(provider, database);
        await rig.Harness.Start();
        return rig;
    }

    /// <summary>Sends <paramref name="message"/> to the effect's endpoint with the given message id.</summary>
    public async Task SendAsync(ApplyEffect message, Guid messageId)
    {
        var endpoint = await Harness.Bus.GetSendEndpoint(new Uri($"queue:{ApplyQueue}"));
        await endpoint.Send(message, c => c.MessageId = messageId);
    }

    public Task<Effect?> EffectAsync(Guid id) => Database.Read(db => db.Effects.AsNoTracking().SingleOrDefaultAsync(e => e.EffectId == id));

    public Task<int> InboxCountAsync(Guid messageId) => Database.Read(db => db.Set<InboxEntry>().CountAsync(e => e.MessageId == messageId));

    public Task<int> OutboxCountAsync() => Database.Read(db => db.Set<OutboxEntry>().CountAsync());

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _provider.DisposeAsync();
    }
}
