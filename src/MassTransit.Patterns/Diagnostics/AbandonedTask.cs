namespace MassTransit.Patterns.Diagnostics;

/// <summary>
/// A call given up on at its deadline (a hung broker or probe that ignores its token) still runs: whatever it ends
/// with is dropped, and observed here so that a late failure is not reported as an unobserved task exception.
/// </summary>
static class AbandonedTask
{
    public static void Observe(Task abandoned)
    {
        if (!abandoned.IsCompleted)
            _ = abandoned.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
