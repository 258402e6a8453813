using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.FaultHost;
using MassTransit.Patterns.FaultHost.Messages;
using MassTransit.Patterns.RabbitMQ.EventForwarding;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;

/// <summary>The fault suite's broker: one throwaway node for the whole class, killed and restarted by the broker test only.</summary>
public sealed class ThrowawayRabbitNodeFixture : IAsyncLifetime
{
    public ThrowawayRabbitNode Node { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Node = await ThrowawayRabbitNode.StartAsync();

    public async ValueTask DisposeAsync() => await Node.DisposeAsync();
}

/// <summary>What the downstream consumer received: the events the consumer under fault forwarded through its outbox.</summary>
public sealed class ForwardedRecorder
{
    public ConcurrentQueue<(Guid MessageId, WorkForwarded Message)> Received { get; } = new();

    public int DistinctSources => Received.Select(r => r.Message.SourceMessageId).Distinct().Count();

    /// <summary>Sources forwarded under more than one message id: a copy a downstream inbox could not recognise.</summary>
    public int SourcesWithSeveralIds => Received.GroupBy(r => r.Message.SourceMessageId).Count(g => g.Select(r => r.MessageId).Distinct().Count() > 1);

    public sealed class Consumer(ForwardedRecorder recorder) : IConsumer<WorkForwarded>
    {
        public Task Consume(ConsumeContext<WorkForwarded> context)
        {
            recorder.Received.Enqueue((context.MessageId ?? Guid.Empty, context.Message));
            return Task.CompletedTask;
        }
    }
}

/// <summary>Counts the inbox's suppressed duplicates in this process.</summary>
public sealed class SuppressedCounter : IDisposable
{
    readonly MeterListener _listener = new();
    long _count;

    public SuppressedCounter()
    {
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.event_forwarding.inbox.duplicates_suppressed")
                l.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, v, _, _) => Interlocked.Add(ref _count, v));
        _listener.Start();
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}

/// <summary>
/// The broker a <see cref="FaultSuiteRig"/> runs on: one node, or a cluster whose every node the buses list (MassTransit's
/// cluster host configuration), with its receive endpoints declared as quorum queues.
/// </summary>
public sealed record FaultBroker(int[] AmqpPorts, string UserName, string Password, bool QuorumQueues)
{
    /// <summary>The throwaway node, classic queues.</summary>
    public static FaultBroker On(ThrowawayRabbitNode node) => new([node.AmqpPort], node.UserName, node.Password, QuorumQueues: false);

    /// <summary>The cluster of <c>build/services.sh start --cluster 3</c>, quorum queues.</summary>
    public static FaultBroker Cluster() =>
        new(ServiceEnvironment.RabbitClusterAmqpPorts, ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword, QuorumQueues: true);

    /// <summary>Connects to the first port and, on a cluster, to the others when it does not answer.</summary>
    public void Configure(IRabbitMqHostConfigurator h)
    {
        h.Username(UserName);
        h.Password(Password);
        if (AmqpPorts.Length > 1)
            h.UseCluster(c =>
            {
                foreach (var port in AmqpPorts)
                    c.Node($"127.0.0.1:{port}");
            });
    }
}

/// <summary>
/// One fault test's world on a broker (the throwaway node, or the cluster): a PostgreSQL database of its own, a work
/// queue, and a test bus that produces (confirmed, resent sends) and receives the forwarded events downstream.
/// </summary>
public sealed class FaultSuiteRig : IAsyncDisposable
{
    readonly IHost _testBus;
    readonly List<IHost> _consumers = [];

    FaultSuiteRig(FaultBroker broker, string database, string queue, IHost testBus)
    {
        Broker = broker;
        Database = database;
        Queue = queue;
        _testBus = testBus;
    }

    public FaultBroker Broker { get; }

    public string Database { get; }

    public string Queue { get; }

    public IEventForwarder Producer => _testBus.Services.GetRequiredService<IEventForwarder>();

    public ForwardedRecorder Forwarded => _testBus.Services.GetRequiredService<ForwardedRecorder>();

    public Uri WorkAddress => new($"exchange:{Queue}");

    public static Task<FaultSuiteRig> StartAsync(ThrowawayRabbitNode node, string name) => StartAsync(FaultBroker.On(node), name);

    public static async Task<FaultSuiteRig> StartAsync(FaultBroker broker, string name)
    {
        var database = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
        { Database = $"{name}_{Guid.NewGuid():N}"[..24], MaxPoolSize = 30, Timeout = 5, CommandTimeout = 10 }.ConnectionString;
        await using (var db = Open(database))
        {
            await db.Database.EnsureDeletedAsync();
            await db.Database.EnsureCreatedAsync();
        }

        var queue = $"fwd-{name}-{Guid.NewGuid():N}"[..30];
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ForwardedRecorder>();
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        builder.Services.AddMassTransit(x =>
        {
            x.AddEventForwarding(o =>
            {
                o.SendTimeout = TimeSpan.FromSeconds(2);
                o.ResendLimit = 2;
                o.ResendInterval = TimeSpan.FromMilliseconds(200);
            });
            x.AddConsumer<ForwardedRecorder.Consumer>().Endpoint(e => e.Name = queue + "-downstream");
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host("127.0.0.1", (ushort)broker.AmqpPorts[0], "/", broker.Configure);
                cfg.UseEventForwarding(context, o => o.QuorumQueues = broker.QuorumQueues);
                cfg.ConfigureEndpoints(context);
            });
        });
        var testBus = builder.Build();
        await testBus.StartAsync();
        return new FaultSuiteRig(broker, database, queue, testBus);
    }

    /// <param name="batching">Batched mode's <c>MaxBatchSize</c>; 0: one transaction per message.</param>
    public FaultHostSettings Settings(int concurrency = 8, int batching = 0) => new()
    {
        RabbitPort = Broker.AmqpPorts[0],
        RabbitUser = Broker.UserName,
        RabbitPassword = Broker.Password,
        ClusterPorts = Broker.AmqpPorts.Length > 1 ? Broker.AmqpPorts : [],
        QuorumQueues = Broker.QuorumQueues,
        Postgres = Database,
        Queue = Queue,
        Concurrency = concurrency,
        Batching = batching
    };

    /// <summary>The report lines of the consumers run in this process (batch events: <see cref="BatchReportLoggerProvider"/>).</summary>
    public ConcurrentQueue<string> ConsumerLines { get; } = new();

    /// <summary>The batches of the consumers run in this process.</summary>
    public BatchReport Batches => BatchReport.Parse(ConsumerLines);

    /// <summary>
    /// The mode really ran: in batched mode at least one batch had more than one member (a batched run that never formed a
    /// batch proved nothing about batching); in per-message mode there was no batch at all.
    /// </summary>
    public static void AssertMode(int batching, BatchReport batches)
    {
        if (batching > 1)
        {
            Assert.True(batches.MaxSize > 1, $"batched mode (MaxBatchSize {batching}) formed no batch of more than one: {batches}");
            Assert.True(batches.MaxSize <= batching, $"a batch larger than MaxBatchSize {batching}: {batches}");
        }
        else
            Assert.Empty(batches.Started);
    }

    /// <summary>Runs the consumer under fault in this process.</summary>
    public async Task<IHost> StartConsumerAsync(FaultHostSettings settings, ConsumerHooks hooks)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddFaultConsumer(settings, hooks, ConsumerLines.Enqueue);
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        var host = builder.Build();
        await host.StartAsync();
        _consumers.Add(host);
        return host;
    }

    static FaultDb Open(string connectionString) => new(new DbContextOptionsBuilder<FaultDb>().UseNpgsql(connectionString).Options);

    /// <summary>Applied effects as (message id, count), read straight from the database.</summary>
    public async Task<Dictionary<Guid, int>> AppliedAsync()
    {
        await using var db = Open(Database);
        return await db.Effects.AsNoTracking().ToDictionaryAsync(e => e.MessageId, e => e.Count);
    }

    public async Task<int> AppliedCountAsync()
    {
        await using var db = Open(Database);
        return await db.Effects.CountAsync();
    }

    /// <summary>
    /// Every work message sent (by id) has its effect in the database and is nowhere else: the work queue and its siblings
    /// are empty on the broker (read through <paramref name="port"/>, by default the first). Every event the consumer
    /// forwarded (one per work message) was received downstream, and the downstream queue and its siblings are empty too.
    /// </summary>
    public async Task AssertAccountedAsync(IReadOnlyCollection<Guid> ids, int? port = null)
    {
        var node = RabbitNode.AmqpOnly("fault suite broker", port ?? Broker.AmqpPorts[0], Broker.UserName, Broker.Password);
        await new MessageAccount()
            .Sent(ids)
            .Place("effects applied (by message id)", async _ => PlaceReading.Of((await AppliedAsync()).Keys), Expect.Ids(ids))
            .Endpoint(Queue, Expect.Empty, node)
            .AssertAllAccountedAsync(TimeSpan.FromSeconds(30));
        await new MessageAccount()
            .Sent(ids.Count, "events forwarded through the consumer's outbox, one per work message")
            .Place("received downstream (distinct sources)", () => Forwarded.DistinctSources, Expect.Exactly(ids.Count))
            .Copies("received downstream again (same source)", () => Forwarded.Received.Count - Forwarded.DistinctSources, Expect.Any)
            .Endpoint(Queue + "-downstream", Expect.Empty, node)
            .AssertAllAccountedAsync(TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var consumer in _consumers)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await consumer.StopAsync(stop.Token);
            consumer.Dispose();
        }
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
            await _testBus.StopAsync(stop.Token);
        _testBus.Dispose();
        NpgsqlConnection.ClearAllPools();
        await using var db = Open(Database);
        await db.Database.EnsureDeletedAsync();
    }
}
