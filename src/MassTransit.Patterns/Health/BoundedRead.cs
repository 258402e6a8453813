namespace MassTransit.Patterns.Health;

/// <summary>
/// Runs one read of a store for a health check, bounded by a timeout whatever the reader does: a reader that ignores
/// its cancellation is no longer waited for (its late answer or fault is observed and dropped), so the health endpoint
/// never hangs on it. The failure comes back as a reason, never as an exception (but the caller's own cancellation).
/// </summary>
static class BoundedRead
{
    public static async Task<(T? Value, string? Failure)> RunAsync<T>(Func<CancellationToken, Task<T>> read, TimeSpan timeout, TimeProvider time,
        CancellationToken cancellationToken)
        where T : class
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<T> task;
        try
        {
            task = read(linked.Token);
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, Describe(exception));
        }

        try
        {
            return (await task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false), null);
        }
        catch (TimeoutException) when (!task.IsCompleted)
        {
            await linked.CancelAsync().ConfigureAwait(false);
            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return (null, $"did not answer within {timeout}");
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, Describe(exception));
        }
    }

    /// <summary>A reader's own timeout (HttpClient's, a command timeout) throws <see cref="OperationCanceledException"/> without our cancellation.</summary>
    static string Describe(Exception exception) => exception is OperationCanceledException
        ? $"timed out ({exception.GetType().Name}: {exception.Message})"
        : $"failed ({exception.GetType().Name}: {exception.Message})";
}
