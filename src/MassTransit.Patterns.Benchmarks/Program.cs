using MassTransit.Patterns.Benchmarks.Infrastructure;
using MassTransit.Patterns.Benchmarks.Scenarios;
using MassTransit.Patterns.Benchmarks.Scenarios.Scale;

IBenchScenario[] all =
[
    new OverheadScenario(),
    new FilterCostScenario(),
    new ThreadDelegateScenario(),
    new AmbulanceScenario(),
    new SupervisorScenario(),
    new ControlFlowScenario(),
    new ContextualScenario(),
    new EventForwardingScenario(),
    new WatchScenario(),
    new WorkflowScenario(),
    new DashboardScenario(),
    new MultibrokerScenario(),
    new ClusterScenario(),
    new ScaleScenario()
];

var transport = BenchContext.InMemory;
var quick = false;
var output = Path.Combine("artifacts", "bench");
var names = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--transport" when i + 1 < args.Length:
            transport = args[++i].ToLowerInvariant();
            break;
        case "--quick":
            quick = true;
            break;
        case "--out" when i + 1 < args.Length:
            output = args[++i];
            break;
        case "--list":
            foreach (var s in all)
                Console.WriteLine($"{s.Name} ({string.Join(", ", s.Transports)})");
            return 0;
        case var a when a.StartsWith("--", StringComparison.Ordinal):
            Console.Error.WriteLine($"Unknown option '{a}'. Options: --transport inmemory|rabbitmq|multibroker, --quick, --out DIR, --list.");
            return 2;
        default:
            names.Add(args[i].ToLowerInvariant());
            break;
    }
}

if (transport is not (BenchContext.InMemory or BenchContext.RabbitMq or "multibroker"))
{
    Console.Error.WriteLine($"--transport must be inmemory, rabbitmq or multibroker (was '{transport}').");
    return 2;
}

var unknown = names.Except(all.Select(s => s.Name)).ToList();
if (unknown.Count > 0)
{
    Console.Error.WriteLine($"Unknown scenario(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", all.Select(s => s.Name))}.");
    return 2;
}

var selected = (names.Count == 0 ? all : all.Where(s => names.Contains(s.Name))).Where(s => s.Transports.Contains(transport)).ToArray();
var context = new BenchContext(transport, quick) { OutputFolder = output };
foreach (var scenario in selected)
{
    Console.Error.WriteLine($"== {scenario.Name} on {transport}{(quick ? " (quick)" : "")}");
    var started = DateTime.UtcNow;
    var result = await scenario.RunAsync(context, CancellationToken.None);
    await result.WriteAsync(output);
    Console.WriteLine($"{scenario.Name}.{transport}: " + string.Join(", ", result.Metrics.Select(m => $"{m.Key}={m.Value}")));
    Console.Error.WriteLine($"   done in {(DateTime.UtcNow - started).TotalSeconds:0}s -> {Path.Combine(output, $"{scenario.Name}.{transport}.json")}");
}
return 0;
