using MassTransit.Patterns.Showcase.Dashboard;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Scenarios;

IShowcaseScenario[] all =
[
    new BaselineScenario(),
    new SagaPersistenceScenario(),
    new ThreadDelegateScenario(),
    new AmbulanceScenario(),
    new SupervisorScenario(),
    new ControlFlowScenario(),
    new ContextualScenario(),
    new EventForwardingScenario(),
    new WatchScenario(),
    new WorkflowScenario(),
    new MultibrokerScenario()
];

ShowcaseOptions options;
try
{
    options = ShowcaseOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

if (options.Help)
{
    Console.WriteLine("usage: dotnet run --project src/MassTransit.Patterns.Showcase [-- [--transport inmemory|rabbitmq|rabbitmq-cluster] [--quick] [SCENARIO...]]");
    Console.WriteLine("       dotnet run --project src/MassTransit.Patterns.Showcase -- --dashboard [--transport inmemory|rabbitmq]");
    Console.WriteLine($"         keeps the workflow scenario failing invoices and serves the repair console on http://127.0.0.1:{DashboardShowcase.Port}{DashboardShowcase.Prefix}");
    Console.WriteLine("scenarios:");
    foreach (var s in all)
        Console.WriteLine($"  {s.Name,-18} {s.Description}");
    return 0;
}

var unknown = options.Scenarios.Except(all.Select(s => s.Name)).ToList();
if (unknown.Count > 0)
{
    Console.Error.WriteLine($"Unknown scenario(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", all.Select(s => s.Name))}.");
    return 2;
}

if (options.Dashboard)
{
    var dashboardWork = Directory.CreateTempSubdirectory("mtp-showcase-");
    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.Cancel();
    };
    try
    {
        return await DashboardShowcase.RunAsync(new ShowcaseContext(options, dashboardWork.FullName), stop.Token);
    }
    finally
    {
        try
        {
            dashboardWork.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

var selected = options.Scenarios.Count == 0 ? all : all.Where(s => options.Scenarios.Contains(s.Name)).ToArray();
if (options.Cluster)
{
    // The scenarios read the broker's ports from the environment build/services.sh prints (their probes and clean-ups);
    // on the cluster those are the cluster's nodes, so every scenario talks to the cluster, first node first.
    Environment.SetEnvironmentVariable("PATTERNS_RABBIT_AMQP_PORTS", string.Join(',', MassTransit.Patterns.Testing.ServiceEnvironment.RabbitClusterAmqpPorts));
    Environment.SetEnvironmentVariable("PATTERNS_RABBIT_MGMT_PORTS", string.Join(',', MassTransit.Patterns.Testing.ServiceEnvironment.RabbitClusterManagementPorts));
}
var work = Directory.CreateTempSubdirectory("mtp-showcase-");
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

Console.WriteLine($"MassTransit.Patterns showcase on {options.Transport}{(options.Quick ? " (quick)" : "")}: {selected.Length} scenario(s)");
var context = new ShowcaseContext(options, work.FullName);
var failed = 0;
try
{
    for (var i = 0; i < selected.Length; i++)
    {
        var scenario = selected[i];
        Console.WriteLine();
        Console.WriteLine($"[{i + 1}/{selected.Length}] {scenario.Name}: {scenario.Description}");
        var table = await scenario.RunAsync(context, cancel.Token);
        table.Print(Console.Out);
        if (!table.Succeeded)
            failed++;
    }
}
finally
{
    try
    {
        work.Delete(recursive: true);
    }
    catch (IOException)
    {
    }
}

Console.WriteLine();
Console.WriteLine(failed == 0 ? "All guarantees held." : $"{failed} scenario(s) broke a guarantee.");
return failed == 0 ? 0 : 1;
