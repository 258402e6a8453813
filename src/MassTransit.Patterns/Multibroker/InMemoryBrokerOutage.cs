namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Takes an in-memory broker down (its sends and publishes fail, its health says disconnected), makes
/// it hang (its sends, publishes and probes wait without an answer while its health still says
/// connected, as a frozen broker's open connection does), and up again.
/// </summary>
public sealed class InMemoryBrokerOutage
{
    readonly Lock _lock = new();
    volatile bool _down;
    TaskCompletionSource? _hung;

    /// <summary>True while the simulated outage lasts.</summary>
    public bool IsDown => _down;

    /// <summary>True while the simulated hang lasts.</summary>
    public bool IsHung
    {
        get
        {
            lock (_lock)
                return _hung is not null;
        }
    }

    /// <summary>Starts the outage: sends fail at once, the next health check takes the broker out of rotation.</summary>
    public void Down() => _down = true;

    /// <summary>
    /// Starts a hang: sends, publishes and probes wait (until <see cref="Up"/>, or their own cancellation:
    /// a client's timeout still ends them) and the bus still reports itself connected.
    /// </summary>
    public void Hang()
    {
        lock (_lock)
            _hung ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Ends the outage or the hang: waiting sends go on, the next health check or probe puts the broker back.</summary>
    public void Up()
    {
        _down = false;
        TaskCompletionSource? hung;
        lock (_lock)
        {
            hung = _hung;
            _hung = null;
        }
        hung?.TrySetResult();
    }

    internal Task WaitWhileHungAsync(CancellationToken cancellationToken)
    {
        Task? hung;
        lock (_lock)
            hung = _hung?.Task;
        return hung is null ? Task.CompletedTask : hung.WaitAsync(cancellationToken);
    }
}
