using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.FaultHost.Messages;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;

/// <summary>
/// Producer lanes that send their share of <c>ids</c> through the event forwarder, paced, one send in flight per lane, and
/// remember what the broker did not confirm (the exceptions <c>unconfirmed</c> accepts; any other fails the lane) to send
/// again later under the same id.
/// </summary>
sealed class PacedForwardingProducer(IEventForwarder forwarder, Uri destination, Guid[] ids, Func<Exception, bool> unconfirmed)
{
    int _attempts;
    int _unconfirmedCalls;
    FailoverWatch? _watch;

    public ConcurrentDictionary<Guid, int> Confirmed { get; } = new();

    public ConcurrentQueue<int> Unconfirmed { get; } = new();

    public int Attempts => Volatile.Read(ref _attempts);

    public int UnconfirmedCalls => Volatile.Read(ref _unconfirmedCalls);

    public Task RunAsync(int lanes, TimeSpan pace) => Task.WhenAll(Enumerable.Range(0, lanes).Select(async lane =>
    {
        for (var i = lane; i < ids.Length; i += lanes)
        {
            await SendAsync(i);
            await Task.Delay(pace);
        }
    }));

    /// <summary>Sends the unconfirmed ones again, with their ids, until the broker confirms each (a producer that must not lose them).</summary>
    public async Task ResendUnconfirmedAsync(TimeSpan deadline)
    {
        var watch = Stopwatch.StartNew();
        while (Unconfirmed.TryDequeue(out var i))
        {
            if (watch.Elapsed > deadline)
                throw new TimeoutException($"message {i} still unconfirmed after {deadline}");
            await SendAsync(i);
        }
    }

    /// <summary>
    /// Completes with <paramref name="clock"/>'s reading when a send started from now on is confirmed: the failover as a
    /// producer sees it (sends in flight at a fault, confirmed after it, do not count).
    /// </summary>
    public Task<TimeSpan> FirstConfirmOfASendStartedNow(Stopwatch clock)
    {
        var seen = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _watch, new FailoverWatch(clock, seen));
        return seen.Task;
    }

    async Task SendAsync(int i)
    {
        Interlocked.Increment(ref _attempts);
        var watch = Volatile.Read(ref _watch);
        try
        {
            await forwarder.Send(destination, new WorkOrdered(i), ids[i]);
            Confirmed[ids[i]] = i;
            watch?.Seen.TrySetResult(watch.Clock.Elapsed);
        }
        catch (Exception exception) when (unconfirmed(exception))
        {
            Interlocked.Increment(ref _unconfirmedCalls);
            Unconfirmed.Enqueue(i);
        }
    }

    sealed record FailoverWatch(Stopwatch Clock, TaskCompletionSource<TimeSpan> Seen);
}
