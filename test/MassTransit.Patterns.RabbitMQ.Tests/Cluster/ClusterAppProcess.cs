using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.ClusterApp;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>
/// One app instance (test/Tools/MassTransit.Patterns.ClusterApp) as a child process: its stdout lines, each with when it
/// arrived, and its stdin for commands.
/// </summary>
public sealed class ClusterAppProcess : IAsyncDisposable
{
    static readonly Stopwatch Clock = Stopwatch.StartNew();
    readonly Process _process;
    readonly ConcurrentQueue<(TimeSpan At, string Line)> _lines = new();
    readonly ConcurrentQueue<string> _errors = new();
    readonly StreamWriter _log;

    ClusterAppProcess(Process process, ClusterAppSettings settings)
    {
        _process = process;
        Settings = settings;
        var folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mtp-cluster-apps");
        Directory.CreateDirectory(folder);
        LogFile = System.IO.Path.Combine(folder, $"{settings.Instance}.log");
        _log = new StreamWriter(LogFile) { AutoFlush = true };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            _lines.Enqueue((Clock.Elapsed, e.Data));
            Log(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            _errors.Enqueue(e.Data);
            Log("  " + e.Data);
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Where this process's stdout and stderr lines are written, stamped with the test's clock (kept for a failure's diagnosis).</summary>
    public string LogFile { get; }

    void Log(string line)
    {
        lock (_log)
            _log.WriteLine($"{Clock.Elapsed.TotalSeconds,8:0.000} {line}");
    }

    /// <summary>The test's clock, which stamps every line.</summary>
    public static TimeSpan Now => Clock.Elapsed;

    static string Path => typeof(ClusterAppProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ClusterAppPath").Value!;

    public ClusterAppSettings Settings { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The lines (after <paramref name="since"/>) that start with <paramref name="prefix"/> and a space, split on spaces after it.</summary>
    public IReadOnlyList<(TimeSpan At, string[] Fields)> Lines(string prefix, TimeSpan since = default) =>
        _lines.Where(l => l.At >= since && l.Line.StartsWith(prefix + " ", StringComparison.Ordinal))
            .Select(l => (l.At, l.Line[(prefix.Length + 1)..].Split(' ', 5))).ToList();

    /// <summary>The last lines of stderr, for a failure message.</summary>
    public string Errors => string.Join(" | ", _errors.TakeLast(10));

    public static async Task<ClusterAppProcess> StartAsync(ClusterAppSettings settings)
    {
        if (!File.Exists(Path))
            throw new InvalidOperationException($"{Path} is missing: build the test project (it references the cluster app).");
        var start = new ProcessStartInfo("dotnet", [Path, .. settings.ToArguments()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return new ClusterAppProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start the cluster app"), settings);
    }

    public Task WaitReadyAsync(TimeSpan timeout) => WaitForAsync(() => _lines.Any(l => l.Line == "READY"), timeout, $"{Settings.Instance} is ready");

    public Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string because) =>
        Eventually.True(() =>
        {
            if (condition())
                return true;
            if (_process.HasExited)
                throw new InvalidOperationException($"cluster app {Settings.Instance} exited ({_process.ExitCode}) before: {because}. stderr: {Errors}");
            return false;
        }, timeout, because, TimeSpan.FromMilliseconds(50));

    public async Task CommandAsync(string command)
    {
        Log("> " + command);
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        lock (_log)
            _log.Dispose();
    }

    /// <summary>Reads the cluster through the management API of the first node that answers.</summary>
    public static class Management
    {
        static HttpClient Client(int port)
        {
            var client = new HttpClient { BaseAddress = new Uri($"http://{ServiceEnvironment.RabbitHost}:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{ServiceEnvironment.RabbitUser}:{ServiceEnvironment.RabbitPassword}")));
            return client;
        }

        /// <summary>The cluster node number (1..N, node k is mtp1k@localhost) of each open connection named <paramref name="names"/>, or none.</summary>
        public static async Task<Dictionary<string, int>> NodesOfConnectionsAsync(IEnumerable<string> names)
        {
            var wanted = names.ToHashSet(StringComparer.Ordinal);
            foreach (var port in ServiceEnvironment.RabbitClusterManagementPorts)
            {
                try
                {
                    using var client = Client(port);
                    var connections = await client.GetFromJsonAsync<JsonElement>("api/connections?columns=name,node,client_properties.connection_name");
                    var result = new Dictionary<string, int>(StringComparer.Ordinal);
                    foreach (var c in connections.EnumerateArray())
                    {
                        if (c.TryGetProperty("client_properties", out var p) && p.TryGetProperty("connection_name", out var n) && n.GetString() is { } name
                            && wanted.Contains(name))
                            result[name] = NodeNumber(c.GetProperty("node").GetString()!);
                    }
                    return result;
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                }
            }
            return [];
        }

        public static int NodeNumber(string node) => int.Parse(node.Split('@')[0][4..], CultureInfo.InvariantCulture);

        public static async Task DeleteAsync(params string[] queues)
        {
            foreach (var port in ServiceEnvironment.RabbitClusterManagementPorts)
            {
                try
                {
                    using var client = Client(port);
                    foreach (var queue in queues)
                    {
                        await client.DeleteAsync($"api/queues/%2F/{queue}");
                        await client.DeleteAsync($"api/exchanges/%2F/{queue}");
                    }
                    return;
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                }
            }
        }
    }
}
