using System.Diagnostics;
using System.Globalization;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// A real server process frozen with <c>kill -STOP</c>: the honest model of a hung broker or database.
/// Its sockets stay open and the kernel still accepts connections, but nothing answers until it is
/// thawed (<c>kill -CONT</c>). Dispose it in a <c>finally</c> (<c>await using</c>): disposal always thaws.
/// A watchdog process started with the freeze thaws the node after <c>maxFreeze</c> even if this test
/// process dies first, so a crashed test never leaves a shared node frozen.
/// </summary>
public sealed class FrozenNode : IAsyncDisposable
{
    static readonly TimeSpan DefaultMaxFreeze = TimeSpan.FromSeconds(90);

    readonly Stopwatch _frozenFor = Stopwatch.StartNew();
    readonly Process? _watchdog;
    int _thawed;

    FrozenNode(int processId, string description, Process? watchdog)
    {
        ProcessId = processId;
        Description = description;
        _watchdog = watchdog;
    }

    /// <summary>The frozen process.</summary>
    public int ProcessId { get; }

    /// <summary>What was frozen, for test output.</summary>
    public string Description { get; }

    /// <summary>True until <see cref="Thaw"/> (or disposal).</summary>
    public bool IsFrozen => Volatile.Read(ref _thawed) == 0;

    /// <summary>How long it has been frozen (stops at the thaw).</summary>
    public TimeSpan FrozenFor => _frozenFor.Elapsed;

    /// <summary>Freezes process <paramref name="processId"/>; the watchdog thaws it after <paramref name="maxFreeze"/> (default 90 s) whatever happens.</summary>
    public static FrozenNode Freeze(int processId, string description, TimeSpan? maxFreeze = null)
    {
        using (var probe = Process.GetProcessById(processId))
            if (probe.HasExited)
                throw new InvalidOperationException($"{description}: process {processId} has exited.");
        var watchdog = StartWatchdog(processId, maxFreeze ?? DefaultMaxFreeze);
        try
        {
            Signal("STOP", processId);
        }
        catch
        {
            StopWatchdog(watchdog);
            throw;
        }
        return new FrozenNode(processId, description, watchdog);
    }

    /// <summary>Freezes the process listening on TCP port <paramref name="port"/> of this machine (a RabbitMQ node's AMQP port: its Erlang VM).</summary>
    public static FrozenNode FreezeListener(int port, string description, TimeSpan? maxFreeze = null) =>
        Freeze(ListenerOf(port), $"{description} (listening on {port})", maxFreeze);

    /// <summary>Freezes shared RabbitMQ node <paramref name="index"/> of build/services.sh (0-based, as <see cref="ServiceEnvironment.RabbitAmqpPorts"/>).</summary>
    public static FrozenNode FreezeSharedRabbitNode(int index, TimeSpan? maxFreeze = null) =>
        FreezeListener(ServiceEnvironment.RabbitAmqpPorts[index], $"shared RabbitMQ node {index}", maxFreeze);

    /// <summary>Thaws the process (once; later calls do nothing).</summary>
    public void Thaw()
    {
        if (Interlocked.Exchange(ref _thawed, 1) != 0)
            return;
        _frozenFor.Stop();
        try
        {
            Signal("CONT", ProcessId);
        }
        finally
        {
            StopWatchdog(_watchdog);
        }
    }

    /// <summary>Thaws the process.</summary>
    public ValueTask DisposeAsync()
    {
        Thaw();
        return ValueTask.CompletedTask;
    }

    /// <summary>The id of the process that listens on TCP <paramref name="port"/> (IPv4 or IPv6), from /proc.</summary>
    public static int ListenerOf(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table))
                continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 10 || fields[3] != "0A")
                    continue;
                var local = fields[1];
                if (int.Parse(local[(local.LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
                    inodes.Add($"socket:[{fields[9]}]");
            }
        }
        if (inodes.Count == 0)
            throw new InvalidOperationException($"nothing listens on TCP port {port}.");
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(dir, "fd")))
                    if (new FileInfo(fd).LinkTarget is { } target && inodes.Contains(target))
                        return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // a process that ended meanwhile, or one we may not read
            }
        }
        throw new InvalidOperationException($"no readable process holds the listening socket of TCP port {port}.");
    }

    static void Signal(string signal, int processId)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, processId.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            UseShellExecute = false
        }) ?? throw new InvalidOperationException("could not run kill");
        var error = kill.StandardError.ReadToEnd();
        kill.WaitForExit();
        if (kill.ExitCode != 0)
            throw new InvalidOperationException($"kill -{signal} {processId} exited {kill.ExitCode}: {error}");
    }

    /// <summary>A detached shell that thaws the process after <paramref name="after"/>, even if this process is gone by then.</summary>
    static Process? StartWatchdog(int processId, TimeSpan after)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        var start = new ProcessStartInfo("setsid", ["sh", "-c", $"sleep {seconds}; kill -CONT {processId}"])
        {
            UseShellExecute = false,
            RedirectStandardInput = false
        };
        return Process.Start(start);
    }

    static void StopWatchdog(Process? watchdog)
    {
        if (watchdog is null)
            return;
        try
        {
            if (!watchdog.HasExited)
                watchdog.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        watchdog.Dispose();
    }
}
