using System.Diagnostics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.ThreadDelegate;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.ThreadDelegate;

/// <summary>The in-memory order gate: every delivery handed to it completes, whoever holds the gate at the time.</summary>
public sealed class ThreadDelegateGateTests
{
    /// <summary>
    /// A delivery's completion is handed to the gate; if another thread holds the gate at that moment
    /// (the endpoint stopping, a start-up batch being closed), that thread must hand it on when it lets
    /// the gate go. Otherwise the completion waits for the next delivery, and the last one of a run
    /// never completes: the transport waits for it and the endpoint never stops.
    /// </summary>
    [Fact]
    public async Task A_completion_handed_to_the_gate_while_the_endpoint_is_stopping_completes()
    {
        await using var provider = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var dispatcher = new ThreadDelegateDispatcher("gate-test", new ThreadDelegateOptions(), new ThreadDelegateMetrics(PatternsMeter.From(provider)));
        using var stop = new CancellationTokenSource();
        var stopper = Task.Factory.StartNew(() =>
        {
            while (!stop.IsCancellationRequested)
                dispatcher.Stopping();
        }, TaskCreationOptions.LongRunning);

        try
        {
            var watch = Stopwatch.StartNew();
            var handed = 0;
            while (watch.Elapsed < TimeSpan.FromSeconds(5))
            {
                var inner = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var completion = dispatcher.CompleteThroughGate(inner.Task, new ThreadDelegateDispatcher.DeliveryTicket());
                inner.SetResult();
                handed++;
                await Task.WhenAny(completion, Task.Delay(TimeSpan.FromSeconds(5)));
                Assert.True(completion.IsCompleted,
                    $"completion {handed} was handed to the gate and had not completed 5 s later (nothing else was in flight)");
                if (!completion.IsCompletedSuccessfully)
                    throw new InvalidOperationException("the inner task succeeded, so must the completion");
            }
            Assert.True(handed > 100, $"only {handed} completions were tried");
        }
        finally
        {
            await stop.CancelAsync();
            await stopper;
        }
    }
}

/// <summary>The in-memory start-up order does not depend on the thread pool's queue.</summary>
public sealed class ThreadDelegateStartupOrderTests
{
    /// <summary>
    /// The start-up batch closes when each of the endpoint's readers has taken a message (then every
    /// later take goes through the gate), read from the endpoint's concurrency, not from the thread
    /// pool: with thread-pool work always pending, the batch still closes complete and each key's
    /// messages complete in send order, every message once.
    /// </summary>
    [Fact]
    public async Task With_thread_pool_work_always_pending_the_start_up_batch_closes_when_every_reader_has_a_message()
    {
        using var stop = new CancellationTokenSource();
        var pendingSeen = 0;
        var flood = Task.Factory.StartNew(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (ThreadPool.PendingWorkItemCount < 64)
                    ThreadPool.UnsafeQueueUserWorkItem(static _ => Thread.SpinWait(2000), null);
                else
                {
                    Interlocked.Increment(ref pendingSeen);
                    Thread.Yield(); // let the queued work run: the flood keeps about 64 items pending, it waits on nothing
                }
            }
        }, TaskCreationOptions.LongRunning);

        try
        {
            await using var harness = await ThreadDelegateHarness.StartAsync(o =>
            {
                o.Workers = 2;
                o.MaxBuffered = 2; // four readers: Workers + MaxBuffered concurrent deliveries
            });
            var dispatcher = harness.Control.DispatcherOf(ThreadDelegateHarness.Queue)!;
            Assert.Equal(4, dispatcher.Readers);

            var keys = new[] { "a", "b", "c", "d" };
            var messages = Enumerable.Range(0, 40).Select(i => new Messages.KeyedWork(keys[i % 4], i / 4)).ToArray();
            await harness.SendAsync(messages);

            await Eventually.True(() => harness.Recorder.Completed == messages.Length, TimeSpan.FromSeconds(30),
                $"all {messages.Length} messages consumed (consumed {harness.Recorder.Completed})");
            Assert.True(Volatile.Read(ref pendingSeen) > 0, "the flood kept thread-pool work pending");
            Assert.Equal((4, true), dispatcher.LastStartup);
            foreach (var key in keys)
                Assert.Equal(Enumerable.Range(0, 10), harness.Recorder.CompletedOf(key));
            Assert.Equal(messages.Length, harness.Recorder.Completed);
            Assert.Empty(harness.Harness.Published.Select<Fault>().ToArray());
        }
        finally
        {
            await stop.CancelAsync();
            await flood;
        }
    }
}
