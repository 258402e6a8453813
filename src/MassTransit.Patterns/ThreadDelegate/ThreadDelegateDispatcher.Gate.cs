using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The in-memory order gate and the start-up batch of an in-memory endpoint.</summary>
sealed partial class ThreadDelegateDispatcher
{
    // The in-memory gate: see Issue and CompleteThroughGate.
    readonly object _gate = new();
    readonly ConcurrentQueue<GateCompletion> _completions = new();
    int _drainingThread;

    // MassTransit's in-memory transport hands deliveries, in queue order, to N readers that run
    // concurrently: between a reader taking a message and that message reaching any filter, another
    // reader can overtake it. The gate closes that window. Every receive pipe call's completion is
    // handed to the reader through the gate, one at a time, with the reader's continuation run inline:
    // the reader finishes the message, takes the next one and runs it up to this filter's Issue (which
    // takes the gate again, re-entrantly) before the gate lets the next reader go. A reader woken by
    // the transport on its own thread waits at Issue while a completion is in progress. So positions
    // are issued in the order readers take messages from the transport's queue. Work on the message
    // itself never runs under the gate (the lane filter yields first).

    public Task CompleteThroughGate(Task inner, DeliveryTicket ticket)
    {
        var completion = new GateCompletion(this, inner, ticket);
        inner.ContinueWith(static (_, state) => ((GateCompletion)state!).Enqueue(), completion,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return completion.Task;
    }

    void DrainGate()
    {
        var thread = Environment.CurrentManagedThreadId;
        while (!_completions.IsEmpty)
        {
            if (Volatile.Read(ref _drainingThread) == thread || !Monitor.TryEnter(_gate))
                return; // this thread is already draining further up its stack, or another thread holds the gate and will look again
            try
            {
                _drainingThread = thread;
                while (_completions.TryDequeue(out var completion))
                    completion.Complete();
            }
            finally
            {
                _drainingThread = 0;
                Monitor.Exit(_gate);
            }
        }
    }

    /// <summary>
    /// Called after every section that held the gate other than <see cref="DrainGate"/>: a completion
    /// handed to the gate while this thread held it (its own thread's TryEnter failed) is drained now,
    /// or it would wait for the next delivery, and the last one of a run would never complete.
    /// </summary>
    void AfterGate()
    {
        if (!_completions.IsEmpty)
            DrainGate();
    }

    // The readers of an in-memory endpoint (one per concurrent delivery: the endpoint's concurrent
    // message limit) are started as thread-pool work items when the transport starts, and each one's
    // first take from the transport happens outside the gate. So the deliveries of a start are held in
    // one batch and given positions in send order (the order of their NewId message ids) when the batch
    // closes: at once when every reader has taken its first message (then every later take goes through
    // the gate: exact), else when the start-up window ends (a reader that has taken nothing by then was
    // idle, or has not been started yet: that cannot be known, and the close says so in the log).
    // From then on the gate keeps the order. Nothing here reads thread-pool state.

    internal static readonly TimeSpan StartupWindow = TimeSpan.FromMilliseconds(500);
    bool _settled;
    List<DeliveryTicket>? _startupBatch;
    TaskCompletionSource? _startupClosed;
    ITimer? _startupTimer;

    /// <summary>The in-memory endpoint's concurrent deliveries (its transport's readers); 0 when unknown.</summary>
    public int Readers { get; set; }

    /// <summary>How the last start-up batch closed: (deliveries in it, whether every reader had taken one).</summary>
    public (int Deliveries, bool Complete)? LastStartup { get; private set; }

    /// <summary>Where a parked delivery waits until the start-up batch has given it its position.</summary>
    public Task? StartupSettling(DeliveryTicket ticket) => ticket.StartupClosed is { IsCompleted: false } closed ? closed : null;

    /// <summary>Under the gate: the delivery joins the start-up batch, which closes when it holds one delivery per reader.</summary>
    void JoinStartupBatch(DeliveryTicket ticket, ReceiveContext context)
    {
        ticket.Position = -1;
        ticket.SendOrder = context.GetMessageId() is { } messageId ? NewId.FromGuid(messageId) : default;
        (_startupBatch ??= []).Add(ticket);
        if (_startupClosed is null)
        {
            _startupClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _startupTimer = _time.CreateTimer(static s => ((ThreadDelegateDispatcher)s!).StartupWindowEnded(), this, StartupWindow, Timeout.InfiniteTimeSpan);
        }
        ticket.StartupClosed = _startupClosed.Task;
        if (Readers > 0 && _startupBatch.Count >= Readers)
            CloseStartupBatch(complete: true);
    }

    void StartupWindowEnded()
    {
        lock (_gate)
            if (_startupBatch is not null)
                CloseStartupBatch(complete: false);
        AfterGate();
    }

    /// <summary>Under the gate: gives the batch its positions in send order and lets its deliveries go on.</summary>
    void CloseStartupBatch(bool complete)
    {
        var batch = _startupBatch ?? [];
        // Send order: MassTransit's message ids are NewIds, increasing in the order a process creates them.
        foreach (var ticket in batch.OrderBy(t => t.SendOrder))
            ticket.Position = ++_arrival.Issued;
        _startupBatch = null;
        _settled = true;
        _startupTimer?.Dispose();
        _startupTimer = null;
        var closed = _startupClosed;
        _startupClosed = null;
        LastStartup = (batch.Count, complete);
        if (!complete)
            LogStartupWindowClosed(Logger, Endpoint, batch.Count, Readers, StartupWindow);
        closed?.TrySetResult(); // continuations run asynchronously: never under the gate
    }

    sealed class GateCompletion(ThreadDelegateDispatcher dispatcher, Task inner, DeliveryTicket ticket) : TaskCompletionSource
    {
        public void Enqueue()
        {
            dispatcher.ReceiveDone(ticket);
            dispatcher._completions.Enqueue(this);
            dispatcher.DrainGate();
        }

        public void Complete()
        {
            if (inner.IsFaulted)
                TrySetException(inner.Exception!.InnerExceptions);
            else if (inner.IsCanceled)
                TrySetCanceled();
            else
                TrySetResult();
        }
    }
}
