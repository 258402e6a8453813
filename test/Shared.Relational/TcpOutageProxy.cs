using System.Net;
using System.Net.Sockets;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// A loopback forwarder in front of a server (PostgreSQL here) that the test can fail in two ways, for the connections
/// that go through it only:
/// <list type="bullet">
/// <item><see cref="Cut"/>: every open connection is dropped and new ones are closed as soon as they arrive, as when the
/// database host is unreachable; <see cref="Restore"/> forwards again.</item>
/// <item><see cref="Freeze"/>: nothing is forwarded either way, but every connection stays open and new ones are
/// accepted (the kernel's backlog of a frozen server), as when the database process is stopped (<c>kill -STOP</c>) or
/// its host stalls; <see cref="Thaw"/> passes on what waited, in order.</item>
/// </list>
/// </summary>
public sealed class TcpOutageProxy : IAsyncDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly string _targetHost;
    readonly int _targetPort;
    readonly CancellationTokenSource _stop = new();
    readonly List<(TcpClient Client, CancellationTokenSource Cancel)> _open = [];
    readonly Task _accepting;
    readonly Lock _freezeLock = new();
    TaskCompletionSource? _frozen;
    long _heldReads;
    volatile bool _cut;

    public TcpOutageProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections refused or dropped while cut.</summary>
    public int Refused { get; private set; }

    /// <summary>Reads (either way) that waited for a thaw: what the freeze held up.</summary>
    public long HeldReads => Interlocked.Read(ref _heldReads);

    public void Cut()
    {
        _cut = true;
        lock (_open)
        {
            foreach (var (client, cancel) in _open)
            {
                cancel.Cancel();
                client.Dispose();
            }
            Refused += _open.Count;
            _open.Clear();
        }
    }

    public void Restore() => _cut = false;

    /// <summary>From now on nothing passes, either way, until <see cref="Thaw"/>; no connection is closed.</summary>
    public void Freeze()
    {
        lock (_freezeLock)
            _frozen ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Passes on what waited during the freeze, and everything after it.</summary>
    public void Thaw()
    {
        TaskCompletionSource? frozen;
        lock (_freezeLock)
        {
            frozen = _frozen;
            _frozen = null;
        }
        frozen?.TrySetResult();
    }

    Task WhileFrozen()
    {
        lock (_freezeLock)
            return _frozen?.Task ?? Task.CompletedTask;
    }

    async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            if (_cut)
            {
                lock (_open)
                    Refused++;
                client.Client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                continue;
            }

            _ = ForwardAsync(client);
        }
    }

    async Task ForwardAsync(TcpClient client)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        lock (_open)
            _open.Add((client, cancel));
        using var upstream = new TcpClient();
        try
        {
            // A connection that arrives during a freeze waits in the backlog, as it would at a frozen server.
            await WhileFrozen().WaitAsync(cancel.Token);
            await upstream.ConnectAsync(_targetHost, _targetPort, cancel.Token);
            var a = client.GetStream();
            var b = upstream.GetStream();
            await Task.WhenAny(PumpAsync(a, b, cancel.Token), PumpAsync(b, a, cancel.Token));
        }
        catch (Exception)
        {
            // the connection was cut, or one side closed
        }
        finally
        {
            lock (_open)
                _open.RemoveAll(c => c.Client == client);
            client.Dispose();
            cancel.Dispose();
        }
    }

    /// <summary>Copies <paramref name="from"/> to <paramref name="to"/>, holding each read's bytes while frozen.</summary>
    async Task PumpAsync(NetworkStream from, NetworkStream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, cancellationToken);
            if (read == 0)
                return;
            var frozen = WhileFrozen();
            if (!frozen.IsCompleted)
            {
                Interlocked.Increment(ref _heldReads);
                await frozen.WaitAsync(cancellationToken);
            }
            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Thaw();
        Cut();
        await _accepting;
        _stop.Dispose();
    }
}
