using MassTransit.Patterns.QueueDepth;

namespace MassTransit.Patterns.Ambulance;

/// <summary>Adds each lane queue to the queue depth monitor while the bus runs, so its broker-side depth is recorded.</summary>
sealed class LaneDepthSubscription(IQueueDepthMonitor monitor, IReadOnlyList<string> lanes) : IBusObserver
{
    readonly List<IDisposable> _subscriptions = [];

    public void PostCreate(IBus bus)
    {
    }

    public void CreateFaulted(Exception exception)
    {
    }

    public Task PreStart(IBus bus) => Task.CompletedTask;

    public Task PostStart(IBus bus, Task<BusReady> busReady)
    {
        lock (_subscriptions)
            foreach (var lane in lanes)
                _subscriptions.Add(monitor.Subscribe(lane, static (_, _) => Task.CompletedTask));
        return Task.CompletedTask;
    }

    public Task StartFaulted(IBus bus, Exception exception) => PostStop(bus);

    public Task PreStop(IBus bus) => Task.CompletedTask;

    public Task PostStop(IBus bus)
    {
        lock (_subscriptions)
        {
            foreach (var subscription in _subscriptions)
                subscription.Dispose();
            _subscriptions.Clear();
        }
        return Task.CompletedTask;
    }

    public Task StopFaulted(IBus bus, Exception exception) => PostStop(bus);
}
