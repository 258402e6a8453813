using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using MassTransit.Patterns.FaultHost;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;

/// <summary>The consumer as a child process (test/Tools/MassTransit.Patterns.FaultHost), read line by line and killed with SIGKILL.</summary>
public sealed class FaultHostProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly ConcurrentQueue<string> _lines = new();
    readonly ConcurrentQueue<string> _errors = new();

    FaultHostProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                _lines.Enqueue(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                _errors.Enqueue(e.Data);
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static string Path => typeof(FaultHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "FaultHostPath").Value!;

    public IReadOnlyCollection<string> Lines => _lines;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts the consumer process and waits until its bus consumes (READY).</summary>
    public static Task<FaultHostProcess> StartAsync(FaultHostSettings settings) => StartAsync(settings.ToArguments());

    /// <summary>Starts the process with <paramref name="arguments"/> (e.g. <see cref="StripeAppSettings.ToArguments"/>) and waits until it reports READY.</summary>
    public static async Task<FaultHostProcess> StartAsync(string[] arguments)
    {
        if (!File.Exists(Path))
            throw new InvalidOperationException($"{Path} is missing: build the solution (the test project references the fault host).");
        var start = new ProcessStartInfo("dotnet", [Path, .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var host = new FaultHostProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start the fault host"));
        await host.WaitForLineAsync(l => l == "READY", TimeSpan.FromSeconds(60), "the fault host is ready");
        return host;
    }

    /// <summary>The batches this process reported (batched mode).</summary>
    public BatchReport Batches => BatchReport.Parse(_lines);

    public int Count(string prefix) => _lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal));

    public Task WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string because) =>
        Eventually.True(() =>
        {
            if (_lines.Any(match))
                return true;
            if (!_process.HasExited)
                return false;
            _process.WaitForExit(); // the output of an exited process is read to its end
            if (_lines.Any(match))
                return true;
            throw new InvalidOperationException($"the fault host exited ({_process.ExitCode}) before: {because}. stderr: {string.Join(" | ", _errors.TakeLast(20))}");
        }, timeout, because, TimeSpan.FromMilliseconds(50));

    /// <summary>SIGKILL: no shutdown, no acknowledgement, no rollback but the database's own.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
    }

    public Task WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(new CancellationTokenSource(timeout).Token);

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}
