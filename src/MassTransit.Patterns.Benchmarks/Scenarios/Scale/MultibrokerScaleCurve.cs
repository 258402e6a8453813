using System.Diagnostics;
using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Benchmarks.Messages;
using MassTransit.Patterns.Multibroker;
using MassTransit.Patterns.RabbitMQ.Multibroker;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;
using static MassTransit.Patterns.Benchmarks.Scenarios.Scale.CurveFigures;

namespace MassTransit.Patterns.Benchmarks.Scenarios.Scale;

/// <summary>
/// <c>multibroker</c>: 1 → 3 brokers (the RabbitMQ nodes of build/services.sh; in memory, in-memory brokers). The client and the
/// brokers share this machine's 2 cores, so throughput would measure the brokers as much as the client: the figure is the client's
/// own CPU instead, <c>client_cpu_ms_per_1000</c>: this process's CPU time (user + system) per 1,000 messages sent round-robin
/// with confirms at a fixed 1,000 a second (under what one broker takes here, so the figure is work, not a client spinning at its
/// limit) and consumed by a trivial consumer on every broker, median of 3 rounds after a warm-up. Scaling projects from it:
/// a client sending R messages a second over N brokers needs R / 1,000 × that many CPU milliseconds a second.
/// <c>flat_out_client_cpu_ms_per_1000</c> and <c>msg_per_s</c>: the same sent as fast as 256 in flight allow; <c>idle_cpu_ms_per_s</c>:
/// the client's CPU with no traffic. A paced and a flat-out round are run first and dropped (the JIT's tiers).
/// </summary>
public sealed class MultibrokerScaleCurve : IScaleCurve
{
    const int Concurrency = 16;
    const int InFlight = 256;
    const int Rate = 1_000;

    public string Pattern => "multibroker";

    public string Unit => "brokers";

    public IReadOnlyList<long> Steps(BenchContext context) => [1, 2, 3];

    public async Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken)
    {
        var rabbit = context.Transport == BenchContext.RabbitMq;
        if (rabbit && ServiceEnvironment.RabbitAmqpPorts.Length < size)
            throw new InvalidOperationException($"{size} brokers need {size} RabbitMQ nodes: build/services.sh start --rabbit-nodes 3");
        var brokers = (int)size;
        var count = context.Quick ? 2_000 : 5_000;
        var rounds = 3;
        var queue = $"scale-mb-{Guid.NewGuid():N}"[..24];
        var inMemory = Enumerable.Range(0, brokers).Select(_ => new InMemoryMultibrokerTransport()).ToArray();
        var tally = new MultibrokerScenario.Tally();
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(tally);
        builder.Services.AddMultibroker(x =>
        {
            x.Register(r => r.AddConsumer<MultibrokerScenario.WorkConsumer>().Endpoint(e =>
            {
                e.Name = queue;
                e.ConcurrentMessageLimit = Concurrency;
                e.PrefetchCount = Concurrency * 2;
            }));
            for (var i = 0; i < brokers; i++)
                if (rabbit)
                    x.RabbitMqBroker($"node{i}", new Uri($"rabbitmq://127.0.0.1:{ServiceEnvironment.RabbitAmqpPorts[i]}/"), h =>
                    {
                        h.Username(ServiceEnvironment.RabbitUser);
                        h.Password(ServiceEnvironment.RabbitPassword);
                    });
                else
                    x.Broker($"mem{i}", inMemory[i]);
            x.Strategy(MultibrokerStrategy.RoundRobin);
            x.Options.MinimumBrokersAtStart = brokers;
        });
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        try
        {
            var multibroker = host.Services.GetRequiredService<IMultibroker>();
            var endpoint = await multibroker.GetSendEndpoint(new Uri($"exchange:{queue}"));
            var sent = 0;
            // Warm-up: one paced and one flat-out round (the JIT's tiers settle; the first step of a process pays them otherwise).
            foreach (var paced in new[] { true, false })
            {
                await RunAsync(endpoint, tally, sent, count, paced ? Rate : null, cancellationToken);
                sent += count;
            }
            // What the client costs with no traffic at all (connections, heartbeats, timers), per second.
            var idleBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var idleWatch = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            var idleCpu = (Process.GetCurrentProcess().TotalProcessorTime - idleBefore).TotalMilliseconds / idleWatch.Elapsed.TotalSeconds;
            var cpu = new List<double>();
            var flatOutCpu = new List<double>();
            var rates = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                foreach (var paced in new[] { true, false })
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    var before = Process.GetCurrentProcess().TotalProcessorTime;
                    var watch = Stopwatch.StartNew();
                    await RunAsync(endpoint, tally, sent, count, paced ? Rate : null, cancellationToken);
                    sent += count;
                    var elapsed = watch.Elapsed;
                    var perThousand = (Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds / (count / 1000.0);
                    if (paced)
                        cpu.Add(perThousand);
                    else
                    {
                        flatOutCpu.Add(perThousand);
                        rates.Add(count / elapsed.TotalSeconds);
                    }
                }
            }
            var figures = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["client_cpu_ms_per_1000"] = Throughput.Median(cpu),
                ["flat_out_client_cpu_ms_per_1000"] = Throughput.Median(flatOutCpu),
                ["send_rate_per_s"] = Rate,
                ["idle_cpu_ms_per_s"] = idleCpu,
                ["msg_per_s"] = Throughput.Median(rates),
                ["messages_per_round"] = count,
                ["load_avg_1m"] = LoadAverage()
            };
            context.Progress($"multibroker {brokers}: client CPU {figures["client_cpu_ms_per_1000"]:0.0} ms per 1,000 messages "
                             + $"at {Rate} msg/s (rounds {string.Join("/", cpu.Select(c => F(c)))}); "
                             + $"flat out {figures["flat_out_client_cpu_ms_per_1000"]:0.0} ms at {figures["msg_per_s"]:N0} msg/s; idle {idleCpu:0.0} ms/s, spread {string.Join("/", multibroker.Brokers.Select(b => b.Received))} (load {figures["load_avg_1m"]:0.00})");
            return new ScaleStep(size, figures);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
            if (rabbit)
                for (var i = 0; i < brokers; i++)
                {
                    var factory = new ConnectionFactory
                    {
                        HostName = "127.0.0.1",
                        Port = ServiceEnvironment.RabbitAmqpPorts[i],
                        UserName = ServiceEnvironment.RabbitUser,
                        Password = ServiceEnvironment.RabbitPassword
                    };
                    await using var connection = await factory.CreateConnectionAsync(CancellationToken.None);
                    await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
                    await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
                    await channel.ExchangeDeleteAsync(queue, cancellationToken: CancellationToken.None);
                }
        }
    }

    /// <summary>
    /// Sends <paramref name="count"/> messages, at <paramref name="rate"/> a second (in slices of 50 ms) or as fast as 256 in flight allow,
    /// and waits until all were consumed.
    /// </summary>
    static async Task RunAsync(ISendEndpoint endpoint, MultibrokerScenario.Tally tally, int before, int count, int? rate, CancellationToken cancellationToken)
    {
        var done = tally.WhenTotal(before + count);
        var inFlight = new List<Task>(InFlight);
        var started = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            if (rate is { } perSecond && i % (perSecond / 20) == 0)
            {
                var due = TimeSpan.FromSeconds((double)i / perSecond);
                if (due > started.Elapsed)
                    await Task.Delay(due - started.Elapsed, cancellationToken);
            }
            inFlight.Add(endpoint.Send(new MultibrokerWork(before + i, "key-" + (before + i)), cancellationToken));
            if (inFlight.Count == InFlight)
            {
                await Task.WhenAll(inFlight);
                inFlight.Clear();
            }
        }
        await Task.WhenAll(inFlight);
        await done.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
    }

    public ScaleSummary Summarize(IReadOnlyList<ScaleStep> steps)
    {
        var one = steps.FirstOrDefault(s => s.Size == 1)?.Figures.GetValueOrDefault("client_cpu_ms_per_1000") ?? 0;
        var largest = steps.Max(s => s.Size);
        var most = AtLargest(steps, "client_cpu_ms_per_1000");
        var figures = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["client_cpu_ms_per_1000_1"] = one,
            [$"client_cpu_ms_per_1000_{largest}"] = most,
            [$"client_cpu_ratio_{largest}_vs_1"] = one > 0 ? most / one : 0
        };
        var growth = new Dictionary<string, string>(StringComparer.Ordinal) { ["client_cpu_ms_per_1000"] = Growth(steps, "client_cpu_ms_per_1000") };
        var sentence = $"At {N(Rate)} messages a second (sent with confirms and consumed), the client spends {F(one)} ms of CPU per 1,000 messages over one "
                       + $"broker and {F(most)} ms over {largest} ({growth["client_cpu_ms_per_1000"]} in the brokers): a client sending R messages a second "
                       + $"over {largest} brokers needs about R / 1,000 × {F(most)} ms of CPU a second, whatever the brokers' own cores.";
        return new ScaleSummary(figures, growth, sentence);
    }
}
