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
/// with confirms and consumed by a trivial consumer on every broker, median of 3 rounds after a warm-up. Scaling projects from it:
/// a client sending R messages a second over N brokers needs R / 1,000 × that many CPU milliseconds a second.
/// </summary>
public sealed class MultibrokerScaleCurve : IScaleCurve
{
    const int Concurrency = 16;
    const int InFlight = 256;

    public string Pattern => "multibroker";

    public string Unit => "brokers";

    public IReadOnlyList<long> Steps(BenchContext context) => [1, 2, 3];

    public async Task<ScaleStep> MeasureAsync(BenchContext context, long size, CancellationToken cancellationToken)
    {
        var rabbit = context.Transport == BenchContext.RabbitMq;
        if (rabbit && ServiceEnvironment.RabbitAmqpPorts.Length < size)
            throw new InvalidOperationException($"{size} brokers need {size} RabbitMQ nodes: build/services.sh start --rabbit-nodes 3");
        var brokers = (int)size;
        var count = rabbit ? (context.Quick ? 2_000 : 6_000) : (context.Quick ? 10_000 : 30_000);
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
            await RunAsync(endpoint, tally, sent, count / 5, cancellationToken); // warm-up
            sent += count / 5;
            var cpu = new List<double>();
            var rates = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                var before = Process.GetCurrentProcess().TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                await RunAsync(endpoint, tally, sent, count, cancellationToken);
                sent += count;
                var elapsed = watch.Elapsed;
                cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - before).TotalMilliseconds / (count / 1000.0));
                rates.Add(count / elapsed.TotalSeconds);
            }
            var figures = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["client_cpu_ms_per_1000"] = Throughput.Median(cpu),
                ["client_cpu_ms_per_1000_per_broker"] = Throughput.Median(cpu) / brokers,
                ["msg_per_s"] = Throughput.Median(rates),
                ["messages_per_round"] = count,
                ["load_avg_1m"] = LoadAverage()
            };
            context.Progress($"multibroker {brokers}: client CPU {figures["client_cpu_ms_per_1000"]:0.0} ms per 1,000 messages "
                             + $"(rounds {string.Join("/", cpu.Select(c => c.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)))}), "
                             + $"{figures["msg_per_s"]:N0} msg/s, spread {string.Join("/", multibroker.Brokers.Select(b => b.Received))} (load {figures["load_avg_1m"]:0.00})");
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
                        HostName = "127.0.0.1", Port = ServiceEnvironment.RabbitAmqpPorts[i], UserName = ServiceEnvironment.RabbitUser,
                        Password = ServiceEnvironment.RabbitPassword
                    };
                    await using var connection = await factory.CreateConnectionAsync(CancellationToken.None);
                    await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
                    await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
                    await channel.ExchangeDeleteAsync(queue, cancellationToken: CancellationToken.None);
                }
        }
    }

    /// <summary>Sends <paramref name="count"/> messages, 256 in flight, and waits until all were consumed.</summary>
    static async Task RunAsync(ISendEndpoint endpoint, MultibrokerScenario.Tally tally, int before, int count, CancellationToken cancellationToken)
    {
        var done = tally.WhenTotal(before + count);
        var inFlight = new List<Task>(InFlight);
        for (var i = 0; i < count; i++)
        {
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
        var sentence = $"The client spends {F(one)} ms of CPU per 1,000 messages (sent with confirms and consumed) over one broker and {F(most)} ms over "
                       + $"{largest} ({growth["client_cpu_ms_per_1000"]} in the brokers): a client sending R messages a second needs about R / 1,000 × "
                       + $"{F(most)} ms of CPU a second, whatever the brokers' own cores.";
        return new ScaleSummary(figures, growth, sentence);
    }
}
