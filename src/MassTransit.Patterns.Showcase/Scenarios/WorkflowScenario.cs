using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Mime;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.EntityFrameworkCore.Workflow;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Messages;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Serialization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>An invoice to book: no currency can be repaired automatically, a negative amount needs a person.</summary>
    public record BookInvoice(int Number, decimal Amount, string? Currency);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    /// <summary>
    /// The workflow event: a stream of invoices with 5 % bad ones. Bad invoices are handed to the repair
    /// saga (its own SQLite database, through the EF Core repository) and the stream goes on; missing
    /// currencies are repaired and booked once, wrong amounts wait for a person, who edits one and
    /// discards another; a body that is not JSON is captured raw. Every invoice ends in one state.
    /// </summary>
    public sealed class WorkflowScenario : IShowcaseScenario
    {
        public string Name => "workflow";

        public string Description => "Bad messages go to a repair saga (SQLite) instead of blocking or _error: repaired, or edited by a person; none lost or doubled.";

        /// <summary>The scenario's own database: only the repair saga's table (EnsureCreated, not ShowcaseDb's migrations).</summary>
        public sealed class WorkflowShowcaseDb(DbContextOptions<WorkflowShowcaseDb> options) : DbContext(options)
        {
            protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddWorkflowEventEntities();
        }

        public sealed class InvoiceRejectedException(string message) : Exception(message);

        public sealed class Books
        {
            public readonly ConcurrentDictionary<Guid, int> Booked = new();
        }

        public sealed class BookInvoiceConsumer(Books books) : IConsumer<BookInvoice>
        {
            public async Task Consume(ConsumeContext<BookInvoice> context)
            {
                if (context.Message.Currency is null)
                    throw new InvoiceRejectedException("no currency");
                if (context.Message.Amount <= 0)
                    throw new InvoiceRejectedException($"amount {context.Message.Amount} is not positive");
                await Task.Delay(2, context.CancellationToken);
                books.Booked.AddOrUpdate(context.MessageId!.Value, 1, (_, n) => n + 1);
            }
        }

        public sealed class CurrencyRepairer : IMessageRepairer<BookInvoice>
        {
            public Task<RepairResult<BookInvoice>> Repair(MessageRepairContext<BookInvoice> context, CancellationToken cancellationToken) =>
                Task.FromResult(context.Message.Currency is null
                    ? RepairResult<BookInvoice>.Repaired(context.Message with { Currency = "EUR" }, "house currency")
                    : RepairResult<BookInvoice>.CannotRepair());
        }

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var total = context.Quick ? 200 : 1_000;
            var queue = $"showcase-invoices-{Guid.NewGuid():N}"[..26];
            var repairQueue = queue + "-repair";
            var books = new Books();

            await using var provider = new ServiceCollection().AddMetrics()
                .AddLogging(l => l.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("MassTransit", LogLevel.Error))
                .AddSingleton(books)
                .AddDbContext<WorkflowShowcaseDb>(o => o.UseSqlite(context.SqliteConnectionString("workflow") + ";Default Timeout=60"))
                .AddMassTransit(x =>
                {
                    x.AddWorkflowEventProcessor(o => o.QueueName = repairQueue).PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowShowcaseDb>());
                    x.AddMessageRepairer<BookInvoice, CurrencyRepairer>();
                    x.AddConsumer<BookInvoiceConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = 8;
                    });
                    x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
                    {
                        if (name == queue)
                            cfg.UseWorkflowEvent(ctx, o => o.RepairAddress = new Uri($"exchange:{repairQueue}"));
                    });
                    context.UseTransport(x);
                })
                .BuildServiceProvider(true);

            await using (var scope = provider.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<WorkflowShowcaseDb>();
                await db.Database.EnsureCreatedAsync(cancellationToken);
                await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            }

            var bus = provider.GetRequiredService<IBusControl>();
            await bus.StartAsync(cancellationToken);
            var good = new List<Guid>();
            var repairable = new List<Guid>();
            var forPerson = new List<Guid>();
            Guid malformed;
            var watch = Stopwatch.StartNew();
            double goodSeconds;
            WorkflowEventState[] rows;
            Guid edited, discarded;
            try
            {
                var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{queue}"));
                for (var n = 0; n < total; n++)
                {
                    var id = NewId.NextGuid();
                    BookInvoice invoice;
                    if (n % 20 != 19)
                    {
                        invoice = new BookInvoice(n, 100 + n, "USD");
                        good.Add(id);
                    }
                    else if (n / 20 % 2 == 0)
                    {
                        invoice = new BookInvoice(n, 100 + n, null);
                        repairable.Add(id);
                    }
                    else
                    {
                        invoice = new BookInvoice(n, -n, "USD");
                        forPerson.Add(id);
                    }
                    await endpoint.Send(invoice, c => c.MessageId = id, cancellationToken);
                }
                malformed = NewId.NextGuid();
                await endpoint.Send(new WorkflowRawBody(), c =>
                {
                    c.Serializer = new CopyBodySerializer(new ContentType("application/vnd.masstransit+json"), new StringMessageBody("{\"message\": {\"amount\": 12,"));
                    c.MessageId = malformed;
                }, cancellationToken);

                await using (new Progress("good invoices booked", good.Count, () => good.Count(books.Booked.ContainsKey)))
                    await WaitAsync(() => Task.FromResult(good.All(books.Booked.ContainsKey)), TimeSpan.FromMinutes(2), "every good invoice is booked", cancellationToken);
                goodSeconds = watch.Elapsed.TotalSeconds;

                var bad = repairable.Count + forPerson.Count + 1;
                await WaitAsync(async () => (await RowsAsync(provider)).Count(r => r.CurrentState is "Completed" or "AwaitingPerson") == bad,
                    TimeSpan.FromMinutes(2), "every bad invoice is repaired or waits for a person", cancellationToken);

                // A person at work: fixes the first wrong amount, discards the second.
                var client = new WorkflowEventClient(bus, new Uri($"exchange:{repairQueue}"));
                edited = forPerson[0];
                discarded = forPerson[1];
                var details = await client.InspectAsync(edited, cancellationToken);
                var body = System.Text.Json.Nodes.JsonNode.Parse(details.Body!)!;
                body["message"]!["amount"] = 250;
                await client.EditAsync(edited, body.ToJsonString(), "showcase-operator", "amount checked with the supplier", cancellationToken: cancellationToken);
                await client.ResubmitAsync(edited, "showcase-operator", cancellationToken: cancellationToken);
                await client.DiscardAsync(discarded, "showcase-operator", "cancelled by the supplier", cancellationToken);
                await WaitAsync(async () => (await RowsAsync(provider)).Any(r => r.CorrelationId == edited && r.CurrentState == "Completed"),
                    TimeSpan.FromMinutes(1), "the edited invoice is booked", cancellationToken);
                rows = [.. await RowsAsync(provider)];
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
                if (context.Options.Transport == ShowcaseOptions.RabbitMq)
                    await DeleteAsync(queue, repairQueue);
            }

            var byId = rows.ToDictionary(r => r.CorrelationId);
            var waiting = forPerson.Skip(2).ToList();
            var everyBadInOneState = repairable.All(id => byId.TryGetValue(id, out var r) && r.CurrentState == "Completed")
                && waiting.All(id => byId.TryGetValue(id, out var r) && r.CurrentState == "AwaitingPerson")
                && byId[edited].CurrentState == "Completed" && byId[discarded].CurrentState == "Discarded"
                && byId.TryGetValue(malformed, out var m) && m is { CurrentState: "AwaitingPerson", Malformed: true };
            var processedOnce = good.Concat(repairable).Append(edited).All(id => books.Booked.GetValueOrDefault(id) == 1);
            var notProcessed = waiting.Append(discarded).Append(malformed).All(id => !books.Booked.ContainsKey(id));
            var audit = byId[edited].ReadAudit();
            return new ResultTable("workflow: repair saga on SQLite (" + context.Options.Transport + ")")
                .Add("invoices sent", total + 1)
                .Add("bad (5 %) + 1 malformed", repairable.Count + forPerson.Count + 1)
                .Add("good booked in (s)", goodSeconds)
                .Add("repaired automatically and booked", repairable.Count(id => byId[id].CurrentState == "Completed"))
                .Add("waiting for a person", rows.Count(r => r.CurrentState == "AwaitingPerson"))
                .Add("edited by a person and booked", byId[edited].CurrentState == "Completed" ? 1 : 0)
                .Add("discarded by a person", rows.Count(r => r.CurrentState == "Discarded"))
                .Add("audit of the edited invoice", string.Join(" > ", audit.Select(a => a.Action)))
                .Check("every bad invoice ends in exactly one state", everyBadInOneState)
                .Check("good, repaired and edited invoices booked exactly once (by message id)", processedOnce && books.Booked.Values.All(n => n == 1))
                .Check("waiting, discarded and malformed invoices never booked", notProcessed)
                .Check("nothing lost: booked + waiting + discarded = sent", books.Booked.Count + waiting.Count + 2 == total + 1)
                .Check("the person's edit is audited with who and what changed",
                    audit.Any(a => a is { Action: "edited", Actor: "person:showcase-operator" } && a.Detail!.Contains("message.amount")));
        }

        static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
        {
            var watch = Stopwatch.StartNew();
            while (!await condition())
            {
                if (watch.Elapsed > timeout)
                    throw new TimeoutException($"not done within {timeout}: {what}");
                await Task.Delay(100, cancellationToken);
            }
        }

        static async Task<List<WorkflowEventState>> RowsAsync(IServiceProvider provider)
        {
            await using var scope = provider.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<WorkflowShowcaseDb>().Set<WorkflowEventState>().AsNoTracking().ToListAsync();
        }

        static async Task DeleteAsync(params string[] queues)
        {
            var factory = new ConnectionFactory
            {
                HostName = ServiceEnvironment.RabbitHost,
                Port = ServiceEnvironment.RabbitAmqpPort,
                UserName = ServiceEnvironment.RabbitUser,
                Password = ServiceEnvironment.RabbitPassword
            };
            await using var connection = await factory.CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            foreach (var queue in queues)
                foreach (var name in new[] { queue, queue + "_error", queue + "_skipped" })
                {
                    await channel.QueueDeleteAsync(name);
                    await channel.ExchangeDeleteAsync(name);
                }
        }
    }
}
