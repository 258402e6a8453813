using System.Net;
using System.Net.Sockets;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;

/// <summary>
/// A loopback forwarder in front of a server (PostgreSQL here) that the test can cut: while cut,
/// every open connection is dropped and new ones are closed as soon as they arrive, as when the
/// database host is unreachable; restored, it forwards again. Only this test's connections go through it.
/// </summary>
public sealed class TcpOutageProxy : IAsyncDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly string _targetHost;
    readonly int _targetPort;
    readonly CancellationTokenSource _stop = new();
    readonly List<(TcpClient Client, CancellationTokenSource Cancel)> _open = [];
    readonly Task _accepting;
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
            await upstream.ConnectAsync(_targetHost, _targetPort, cancel.Token);
            var a = client.GetStream();
            var b = upstream.GetStream();
            await Task.WhenAny(a.CopyToAsync(b, cancel.Token), b.CopyToAsync(a, cancel.Token));
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

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        Cut();
        await _accepting;
        _stop.Dispose();
    }
}
