using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MassTransit.Patterns.Testing;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;

/// <summary>
/// A RabbitMQ node of this test run only: its own node name, free loopback ports and a data folder
/// under /tmp, started from the installed server (as build/services.sh does, without management),
/// so that a test can kill -9 and restart it without disturbing the brokers other tests use. Its
/// data survives a kill: durable queues and persistent messages come back with it.
/// </summary>
public sealed class ThrowawayRabbitNode : IAsyncDisposable
{
    const string Server = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    readonly string _folder;
    readonly string _nodeName;
    readonly int _distributionPort;
    Process? _launcher;

    ThrowawayRabbitNode(string folder, string nodeName, int amqpPort, int distributionPort)
    {
        _folder = folder;
        _nodeName = nodeName;
        AmqpPort = amqpPort;
        _distributionPort = distributionPort;
    }

    public int AmqpPort { get; }

    public string UserName => "guest";

    public string Password => "guest";

    /// <summary>How long the last start took until the node accepted AMQP connections.</summary>
    public TimeSpan LastStart { get; private set; }

    public static async Task<ThrowawayRabbitNode> StartAsync()
    {
        if (!File.Exists(Server))
            throw new InvalidOperationException($"{Server} is missing: run build/services.sh start once (it installs rabbitmq-server).");
        var id = Guid.NewGuid().ToString("N")[..8];
        var folder = Directory.CreateTempSubdirectory($"mtp-fwd-rabbit-{id}-").FullName;
        Directory.CreateDirectory(Path.Combine(folder, "mnesia"));
        Directory.CreateDirectory(Path.Combine(folder, "log"));
        var node = new ThrowawayRabbitNode(folder, $"mtpfwd{id}@localhost", FreePort(), FreePort());
        await File.WriteAllTextAsync(Path.Combine(folder, "rabbitmq.conf"), $"""
            listeners.tcp.default = 127.0.0.1:{node.AmqpPort}
            listeners.ssl = none
            disk_free_limit.absolute = 50MB
            log.console = false
            log.file.level = warning
            """);
        await File.WriteAllTextAsync(Path.Combine(folder, "enabled_plugins"), "[].");
        await File.WriteAllTextAsync(Path.Combine(folder, "rabbitmq-env.conf"), "# empty: keeps /etc/rabbitmq/rabbitmq-env.conf out\n");
        await node.LaunchAsync();
        return node;
    }

    /// <summary>Starts the node again on the same ports and data (after <see cref="Kill"/>), waiting until it accepts connections.</summary>
    public Task RestartAsync() => LaunchAsync();

    async Task LaunchAsync()
    {
        var watch = Stopwatch.StartNew();
        File.Delete(Path.Combine(_folder, "rabbit.pid"));
        var start = new ProcessStartInfo("/bin/sh", ["-c", $"exec {Server} >> '{_folder}/console.log' 2>&1 < /dev/null"])
        {
            UseShellExecute = false,
            WorkingDirectory = _folder
        };
        start.Environment.Clear();
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["HOME"] = _folder,
            ["LANG"] = "C.UTF-8",
            ["LC_ALL"] = "C.UTF-8",
            ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODENAME"] = _nodeName,
            ["RABBITMQ_USE_LONGNAME"] = "false",
            ["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(_folder, "rabbitmq-env.conf"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(_folder, "rabbitmq.conf"),
            ["RABBITMQ_ADVANCED_CONFIG_FILE"] = Path.Combine(_folder, "advanced.config"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_folder, "enabled_plugins"),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(_folder, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(_folder, "log"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(_folder, "rabbit.pid"),
            ["RABBITMQ_DIST_PORT"] = _distributionPort.ToString(),
            ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}"
        })
            start.Environment[key] = value;
        _launcher = Process.Start(start) ?? throw new InvalidOperationException("could not start " + Server);

        var factory = new ConnectionFactory { HostName = "127.0.0.1", Port = AmqpPort, UserName = UserName, Password = Password };
        await Eventually.True(async () =>
        {
            if (_launcher.HasExited)
                throw new InvalidOperationException($"RabbitMQ node {_nodeName} exited during start (exit {_launcher.ExitCode}); see {_folder}/console.log and {_folder}/log");
            try
            {
                await using var connection = await factory.CreateConnectionAsync();
                return connection.IsOpen;
            }
            catch (Exception)
            {
                return false;
            }
        }, StartTimeout, $"RabbitMQ node {_nodeName} accepts connections on 127.0.0.1:{AmqpPort}", TimeSpan.FromMilliseconds(250));
        LastStart = watch.Elapsed;
    }

    /// <summary>kill -9 of the node's Erlang VM, as a crash would; returns once it is gone.</summary>
    public async Task Kill()
    {
        var pidFile = Path.Combine(_folder, "rabbit.pid");
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllTextAsync(pidFile)).Trim(), out var pid))
        {
            try
            {
                using var beam = Process.GetProcessById(pid);
                beam.Kill();
                await beam.WaitForExitAsync();
            }
            catch (ArgumentException)
            {
                // already gone
            }
        }
        if (_launcher is { } launcher)
        {
            if (!launcher.HasExited)
                launcher.Kill(entireProcessTree: true);
            await launcher.WaitForExitAsync();
            launcher.Dispose();
            _launcher = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Kill();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
