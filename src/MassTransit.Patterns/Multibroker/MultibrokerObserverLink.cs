namespace MassTransit.Patterns.Multibroker;

/// <summary>A send or publish observer connected to every broker's bus, including buses (re)started later.</summary>
sealed class MultibrokerObserverLink(MultibrokerRuntime runtime, Func<IBusControl, ConnectHandle> connect) : ConnectHandle
{
    readonly List<ConnectHandle> _handles = [];

    public void Attach(IBusControl bus)
    {
        lock (_handles)
            _handles.Add(connect(bus));
    }

    public void Disconnect()
    {
        runtime.Remove(this);
        lock (_handles)
        {
            foreach (var handle in _handles)
                handle.Disconnect();
            _handles.Clear();
        }
    }

    public void Dispose() => Disconnect();
}
