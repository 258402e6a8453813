namespace MassTransit.Patterns.Requests;

/// <summary>
/// A MassTransit request bounded as a whole. MassTransit starts a request's timeout only once its send reaches the
/// transport, so a send still waiting before that (for a channel after a broker node's loss: seen on a RabbitMQ cluster,
/// where a supervisor's look waited for minutes) would hold its caller for good. The bound lets MassTransit's own timeout
/// answer first (<see cref="RequestTimeoutException"/>, as before); only a request still pending <see cref="Grace"/> after
/// the timeout is cancelled, and one that ignores the cancellation is left behind after another <see cref="Grace"/>, with a
/// <see cref="TimeoutException"/> that says so. System time, as MassTransit's own timeout.
/// </summary>
static class BoundedRequest
{
    /// <summary>How long past the request's timeout the bound waits, twice: before cancelling, then before leaving it.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(1);

    /// <summary>Runs <paramref name="request"/> (given the token to pass on) within <paramref name="timeout"/> plus the grace.</summary>
    /// <exception cref="TimeoutException">The request was neither answered nor timed out by MassTransit in time.</exception>
    public static async Task<T> GetAsync<T>(Func<CancellationToken, Task<T>> request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(timeout + Grace);
        var call = request(bounded.Token);
        try
        {
            return await call.WaitAsync(timeout + Grace + Grace, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is OperationCanceledException or TimeoutException
            && bounded.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // A request left behind may still fail later: its exception is observed, not raised unobserved.
            if (!call.IsCompleted)
                _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw new TimeoutException(
                $"No answer within the request timeout ({timeout}), and MassTransit had not timed the request out {Grace.TotalSeconds:0} s later: its send had not reached the broker.",
                exception);
        }
    }
}
