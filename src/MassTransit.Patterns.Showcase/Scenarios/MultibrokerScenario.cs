using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.Showcase.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>A payment for an account: the multibroker scenario's message.</summary>
    public record AccountPayment(string Account, int Seq);
}

namespace MassTransit.Patterns.Showcase.Scenarios
{
    using Messages;

    /// <summary>
    /// Multibroker: three brokers used as one. Always on three in-memory buses (separate message stores
    /// in one process standing in for three RabbitMQ nodes), whatever the transport chosen, because the
    /// scenario takes a broker down. Round-robin spreads payments, broker b goes down mid-run (its sends
    /// fail over, it leaves the rotation) and comes back; then key hash keeps each account on one broker
    /// in order, and the outage moves only broker b's accounts.
    /// </summary>
    public sealed class MultibrokerScenario : IShowcaseScenario
    {
        static readonly Uri Payments = new("queue:showcase-multibroker-payments");
        static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

        public string Name => "multibroker";

        public string Description => "Three in-memory brokers as one: round-robin spread, broker b down and back (failover), key hash per-account order.";

        public sealed class Ledger
        {
            public readonly ConcurrentQueue<(Guid Id, string Broker, string Account, int Seq)> Seen = new();
        }

        public sealed class PaymentConsumer(Ledger ledger) : IConsumer<AccountPayment>
        {
            public Task Consume(ConsumeContext<AccountPayment> context)
            {
                ledger.Seen.Enqueue((context.MessageId!.Value, context.ReceiveContext.InputAddress.Host, context.Message.Account, context.Message.Seq));
                return Task.CompletedTask;
            }
        }

        public async Task<ResultTable> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
        {
            var perPhase = context.Quick ? 300 : 1_200;
            var table = new ResultTable("multibroker: three in-memory brokers as one (a, b, c)");

            // Part 1: round-robin, b down in the middle, then back.
            {
                await using var run = await Run.StartAsync(MultibrokerStrategy.RoundRobin, cancellationToken);
                var confirmed = new ConcurrentDictionary<Guid, string>();
                async Task Phase(string name)
                {
                    await Parallel.ForEachAsync(Enumerable.Range(0, perPhase), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
                        async (i, ct) =>
                        {
                            var id = NewId.NextGuid();
                            var broker = await run.Multibroker.SendAsync(Payments, new AccountPayment("acct-" + i, i),
                                pipe: Pipe.Execute<SendContext<AccountPayment>>(c => c.MessageId = id), cancellationToken: ct);
                            confirmed[id] = broker.Name;
                        });
                    Console.WriteLine($"  {name}: {string.Join(", ", run.Multibroker.Brokers.Select(b => $"{b.Name} {b.State} sent {b.Sent}"))}");
                }

                await Phase("all three healthy");
                var before = run.Multibroker.Brokers.Select(b => b.Sent).ToArray();
                run.Transports[1].Outage.Down();
                await Phase("b down");
                var duringB = run.Multibroker.Brokers[1].Sent - before[1];
                var stateDuring = run.Multibroker.Brokers[1].State;
                run.Transports[1].Outage.Up();
                var watch = Stopwatch.StartNew();
                while (run.Multibroker.Brokers[1].State != BrokerState.Healthy && watch.Elapsed < Deadline)
                    await Task.Delay(20, cancellationToken);
                var rejoin = watch.Elapsed;
                var beforeBack = run.Multibroker.Brokers[1].Sent;
                await Phase("b back");
                await run.WaitForAsync(confirmed.Count, cancellationToken);

                var counts = run.Ledger.Seen.GroupBy(s => s.Id).ToDictionary(g => g.Key, g => g.Count());
                var shares = run.Multibroker.Brokers.Select(b => before[b.Index]).ToArray();
                var fair = perPhase / 3.0;
                table.Add("round-robin, all healthy: sent to a / b / c", string.Join(" / ", shares))
                    .Add("while b was down: confirmed by b", duringB)
                    .Add("b's state during its outage", stateDuring)
                    .Add("sends failed over to another broker (same id)", run.Multibroker.Brokers.Sum(b => b.SendFailures))
                    .Add("b rejoined after its outage ended (ms)", rejoin.TotalMilliseconds)
                    .Add("after b came back: sent to b", run.Multibroker.Brokers[1].Sent - beforeBack)
                    .Check("each confirmed payment consumed exactly once (none lost, none twice)",
                        confirmed.Keys.All(id => counts.GetValueOrDefault(id) == 1) && counts.Count == confirmed.Count)
                    .Check("spread even while healthy (each within 1 message of a third)", shares.All(s => Math.Abs(s - fair) <= 1))
                    .Check("b out of rotation while down, back in rotation after", duringB == 0 && run.Multibroker.Brokers[1].Sent > beforeBack);
            }

            // Part 2: key hash by account: one broker per account, in order; b's outage moves only b's accounts.
            {
                await using var run = await Run.StartAsync(MultibrokerStrategy.KeyHash, cancellationToken);
                const int accounts = 60;
                var perAccount = context.Quick ? 5 : 20;
                async Task<Dictionary<string, string>> Round(int round)
                {
                    var start = run.Ledger.Seen.Count;
                    await Parallel.ForEachAsync(Enumerable.Range(0, accounts), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
                        async (a, ct) =>
                        {
                            for (var n = 0; n < perAccount; n++)
                                await run.Multibroker.SendAsync(Payments, new AccountPayment("acct-" + a, round * 1_000 + n), cancellationToken: ct);
                        });
                    await run.WaitForAsync(start + accounts * perAccount, cancellationToken);
                    return run.Ledger.Seen.Where(s => s.Seq / 1_000 == round).GroupBy(s => s.Account).ToDictionary(g => g.Key, g => g.First().Broker);
                }

                var healthy = await Round(0);
                run.Transports[1].Outage.Down();
                run.CheckHealth();
                var degraded = await Round(1);
                run.Transports[1].Outage.Up();
                run.CheckHealth();
                var back = await Round(2);

                var onB = healthy.Count(kv => kv.Value == "b");
                var moved = healthy.Count(kv => degraded[kv.Key] != kv.Value);
                var seen = run.Ledger.Seen.ToArray();
                var oneBroker = seen.GroupBy(s => (s.Account, s.Seq / 1_000)).All(g => g.Select(s => s.Broker).Distinct().Count() == 1);
                var inOrder = seen.GroupBy(s => s.Account).All(g => g.Select(s => s.Seq).SequenceEqual(g.Select(s => s.Seq).Order()));
                table.Add("key hash: accounts on a / b / c", string.Join(" / ", new[] { "a", "b", "c" }.Select(b => healthy.Count(kv => kv.Value == b))))
                    .Add("accounts moved while b was down (b had)", $"{moved} ({onB})")
                    .Check("each account's payments on one broker and in send order", oneBroker && inOrder)
                    .Check("b's outage moved only b's accounts, and they came back to b", moved == onB && healthy.All(kv => back[kv.Key] == kv.Value));
            }
            return table;
        }

        sealed class Run : IAsyncDisposable
        {
            readonly IHost _host;

            Run(IHost host, InMemoryMultibrokerTransport[] transports)
            {
                _host = host;
                Transports = transports;
            }

            public InMemoryMultibrokerTransport[] Transports { get; }

            public IMultibroker Multibroker => _host.Services.GetRequiredService<IMultibroker>();

            public Ledger Ledger => _host.Services.GetRequiredService<Ledger>();

            /// <summary>Waits for the next periodic health reading to reflect the outage switches.</summary>
            public void CheckHealth()
            {
                var deadline = Stopwatch.StartNew();
                while (Multibroker.Brokers.Any(b => b.State != (Transports[b.Index].Outage.IsDown ? BrokerState.Disconnected : BrokerState.Healthy)) && deadline.Elapsed < Deadline)
                    Thread.Yield();
            }

            public async Task WaitForAsync(int consumed, CancellationToken cancellationToken)
            {
                var watch = Stopwatch.StartNew();
                while (Ledger.Seen.Count < consumed && watch.Elapsed < Deadline)
                    await Task.Delay(10, cancellationToken);
            }

            public static async Task<Run> StartAsync(MultibrokerStrategy strategy, CancellationToken cancellationToken)
            {
                var transports = new[] { new InMemoryMultibrokerTransport(), new InMemoryMultibrokerTransport(), new InMemoryMultibrokerTransport() };
                var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
                builder.Services.AddSingleton<Ledger>();
                builder.Services.AddMultibroker(x =>
                {
                    x.Register(r => r.AddConsumer<PaymentConsumer>().Endpoint(e => e.Name = "showcase-multibroker-payments"));
                    x.Broker("a", transports[0]).Broker("b", transports[1]).Broker("c", transports[2]);
                    x.Strategy(strategy).Key<AccountPayment>(m => m.Account);
                    x.Options.MinimumBrokersAtStart = 3;
                    x.Options.HealthCheckInterval = TimeSpan.FromSeconds(1); // slow enough that the first sends after the outage hit b and fail over
                    x.Options.EjectionTime = TimeSpan.FromMilliseconds(500);
                });
                var host = builder.Build();
                await host.StartAsync(cancellationToken);
                return new Run(host, transports);
            }

            public async ValueTask DisposeAsync()
            {
                await _host.StopAsync();
                _host.Dispose();
            }
        }
    }
}
