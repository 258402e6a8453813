namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>A switch on a workload's producers: paused, they send nothing more until resumed (tests pause one to read a page's values at rest).</summary>
public abstract class WorkloadTraffic
{
    volatile bool _paused;

    /// <summary>True while the producers send nothing.</summary>
    public bool Paused
    {
        get => _paused;
        set => _paused = value;
    }

    /// <summary>Waits while paused.</summary>
    public async Task WhilePausedAsync(CancellationToken cancellationToken)
    {
        while (_paused)
            await Task.Delay(100, cancellationToken);
    }
}
