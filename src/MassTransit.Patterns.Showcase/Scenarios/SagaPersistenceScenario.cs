using System.Diagnostics;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Messages;
using MassTransit.Patterns.Showcase.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Showcase.Scenarios;

/// <summary>
/// The EF Core saga repository under contention: many payments for the same ledgers at once, on
/// SQLite through the migrations the application owns. Every payment must count exactly once.
/// </summary>
public sealed class SagaPersistenceScenario : IShowcaseScenario
{
    public string Name => "saga-persistence";

    public string Description => "Saga state in SQLite via the EF Core repository: concurrent events per instance, conflicts retried, none lost or doubled.";

    public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
    {
        var ledgers = context.Quick ? 5 : 20;
        var paymentsPerLedger = context.Quick ? 20 : 40;
        var queue = $"showcase-ledger-{Guid.NewGuid():N}"[..24];

        long conflicts = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.saga.concurrency_conflicts")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref conflicts, value));
        listener.Start();

        await using var provider = new ServiceCollection().AddMetrics()
            .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error))
            .AddDbContext<ShowcaseDb>(o => o.UseSqlite(context.SqliteConnectionString("ledger") + ";Default Timeout=60"))
            .AddMassTransit(x =>
            {
                x.AddSagaStateMachine<PaymentLedgerStateMachine, PaymentLedgerState>()
                    .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<ShowcaseDb>())
                    .Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 8;
                        e.AddConfigureEndpointCallback((ctx, cfg) =>
                        {
                            cfg.UseSagaConcurrencyRetry();
                            cfg.UseInMemoryOutbox(ctx);
                        });
                    });
                context.UseTransport(x);
            })
            .BuildServiceProvider(true);

        bool pendingModelChanges;
        await using (var scope = provider.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShowcaseDb>();
            await db.PrepareAsync(cancellationToken);
            pendingModelChanges = db.Database.HasPendingModelChanges();
        }

        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(cancellationToken);
        var ids = Enumerable.Range(0, ledgers).Select(_ => NewId.NextGuid()).ToArray();
        var expected = ids.ToDictionary(id => id, _ => 0L);
        var watch = Stopwatch.StartNew();
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
            foreach (var id in ids)
                await endpoint.Send(new LedgerOpened(id, $"customer-{id:N}"[..17]), cancellationToken);
            await WaitAsync(provider, db => db.Set<PaymentLedgerState>().CountAsync(cancellationToken), ledgers, cancellationToken);

            var random = new Random(42);
            var payments = new List<PaymentPosted>();
            foreach (var id in ids)
                for (var p = 0; p < paymentsPerLedger; p++)
                {
                    var amount = random.Next(1, 100_000);
                    expected[id] += amount;
                    payments.Add(new PaymentPosted(id, NewId.NextGuid(), amount));
                }

            var total = payments.Count;
            long applied = 0;
            await using (new Progress("payments applied", total, () => Interlocked.Read(ref applied)))
            {
                // Interleave ledgers so each instance sees concurrent events.
                await Task.WhenAll(payments.OrderBy(_ => random.Next()).Chunk(64).Select(async chunk =>
                {
                    foreach (var payment in chunk)
                        await endpoint.Send(payment, cancellationToken);
                }));
                await WaitAsync(provider, async db => (long)await db.Set<PaymentLedgerState>().SumAsync(l => l.Payments, cancellationToken), total,
                    cancellationToken, value => Interlocked.Exchange(ref applied, value));
            }
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
        }
        watch.Stop();

        await using var check = provider.CreateAsyncScope();
        var rows = await check.ServiceProvider.GetRequiredService<ShowcaseDb>().Set<PaymentLedgerState>().AsNoTracking().ToListAsync(cancellationToken);
        var exact = rows.Count == ledgers && rows.All(r => r.TotalCents == expected[r.CorrelationId] && r.Payments == paymentsPerLedger);
        return new ResultTable("saga-persistence: EF Core repository on SQLite (" + context.Options.Transport + ")")
            .Add("ledgers (saga instances)", ledgers)
            .Add("payments (concurrent per ledger)", ledgers * paymentsPerLedger)
            .Add("concurrency conflicts retried", Interlocked.Read(ref conflicts))
            .Add("elapsed (s)", watch.Elapsed.TotalSeconds)
            .Check("migrations match the model", !pendingModelChanges)
            .Check("every payment counted exactly once", exact);
    }

    static async Task WaitAsync(IServiceProvider provider, Func<ShowcaseDb, Task<long>> read, long target, CancellationToken cancellationToken,
        Action<long>? report = null)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            await using var scope = provider.CreateAsyncScope();
            var value = await read(scope.ServiceProvider.GetRequiredService<ShowcaseDb>());
            report?.Invoke(value);
            if (value >= target)
                return;
            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
                throw new TimeoutException($"only {value} of {target} after two minutes");
            await Task.Delay(100, cancellationToken);
        }
    }

    static Task WaitAsync(IServiceProvider provider, Func<ShowcaseDb, Task<int>> read, int target, CancellationToken cancellationToken) =>
        WaitAsync(provider, async db => (long)await read(db), target, cancellationToken);
}
