using System.Diagnostics;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// The services that build/services.sh started, read from the environment it prints. A test that
/// needs a service and finds no setting fails with the command to run: it never skips quietly.
/// </summary>
public static class ServiceEnvironment
{
    public static string RabbitHost => Get("PATTERNS_RABBIT_HOST", "127.0.0.1");

    public static string RabbitUser => Required("PATTERNS_RABBIT_USER");

    public static string RabbitPassword => Required("PATTERNS_RABBIT_PASSWORD");

    public static int[] RabbitAmqpPorts => Ports("PATTERNS_RABBIT_AMQP_PORTS");

    public static int[] RabbitManagementPorts => Ports("PATTERNS_RABBIT_MGMT_PORTS");

    public static int RabbitAmqpPort => RabbitAmqpPorts[0];

    /// <summary>The AMQP ports of the RabbitMQ cluster (<c>build/services.sh start --cluster 3</c>), node 1 first.</summary>
    public static int[] RabbitClusterAmqpPorts => ClusterPorts("PATTERNS_RABBIT_CLUSTER_AMQP_PORTS");

    /// <summary>The management API ports of the RabbitMQ cluster, in the order of <see cref="RabbitClusterAmqpPorts"/>.</summary>
    public static int[] RabbitClusterManagementPorts => ClusterPorts("PATTERNS_RABBIT_CLUSTER_MGMT_PORTS");

    public static Uri RabbitManagementUri => new($"http://{RabbitHost}:{RabbitManagementPorts[0]}/");

    public static string PostgresConnectionString => Required("PATTERNS_POSTGRES_CONNECTION");

    public static string ServicesScript => Required("PATTERNS_SERVICES_SCRIPT");

    /// <summary>Runs build/services.sh with the given arguments (kill or restart a node) and waits for it.</summary>
    public static async Task RunServicesScriptAsync(string arguments, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo("bash", $"{ServicesScript} {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + ServicesScript);
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"services.sh {arguments} exited {process.ExitCode}: {await stderr}{await stdout}");
    }

    static int[] ClusterPorts(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 }
            ? Ports(name)
            : throw new InvalidOperationException($"{name} is not set: no RabbitMQ cluster was started. Run the tests with build/test.sh, or eval \"$(build/services.sh start --cluster 3)\" first.");

    static int[] Ports(string name) => Required(name).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    static string Get(string name, string fallback) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : fallback;

    static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: run the tests with build/test.sh, or eval \"$(build/services.sh start)\" first.");
}
