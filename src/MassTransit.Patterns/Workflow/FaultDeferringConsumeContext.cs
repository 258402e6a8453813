using MassTransit.Context;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Holds back the faults the consumers report (which would publish <c>Fault&lt;T&gt;</c>) until the
/// filter knows whether the failure is delegated: a delegated message has not faulted, it is being repaired.
/// </summary>
sealed class FaultDeferringConsumeContext(ConsumeContext context) : ConsumeContextScope(context)
{
    readonly ConsumeContext _context = context;
    readonly List<PendingFault> _pending = [];

    /// <summary>A consumer's fault held back: how to report it, or to report its message consumed instead.</summary>
    sealed record PendingFault(Exception Exception, Func<Task> NotifyFaulted, Func<TimeSpan, string, Task> NotifyConsumed);

    public override Task NotifyFaulted<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
    {
        lock (_pending)
            _pending.Add(new PendingFault(exception,
                () => _context.NotifyFaulted(context, duration, consumerType, exception),
                (elapsed, handOff) => _context.NotifyConsumed(context, elapsed, handOff)));
        return Task.CompletedTask;
    }

    /// <summary>
    /// The failure to classify: what the consumer threw. MassTransit's consumer filters replace a cancellation
    /// exception thrown while the consume context's token is not cancelled (HttpClient's timeout) with a
    /// <see cref="ConsumerCanceledException"/> without inner exception; the consumer's own exception is the one
    /// they reported as its fault.
    /// </summary>
    public Exception ConsumerFailure(Exception thrown)
    {
        if (thrown is not ConsumerCanceledException)
            return thrown;
        lock (_pending)
            return _pending.LastOrDefault(p => p.Exception is OperationCanceledException || p.Exception.GetBaseException() is OperationCanceledException)?.Exception
                ?? thrown;
    }

    public async Task NotifyPendingFaults()
    {
        foreach (var pending in TakePending())
            await pending.NotifyFaulted().ConfigureAwait(false);
    }

    /// <summary>
    /// The message was handed off: reports it consumed (once, by <paramref name="consumerType"/>) and drops the
    /// faults held back. The consumer's typed context is used when a consumer reported the failure; a failure
    /// before any consumer (a body that does not deserialize to the message type) is reported as the hand-off's report.
    /// </summary>
    public Task NotifyHandedOff(WorkflowFailureReported report, string consumerType)
    {
        var elapsed = _context.ReceiveContext.ElapsedTime;
        return TakePending() is [var first, ..]
            ? first.NotifyConsumed(elapsed, consumerType)
            : _context.NotifyConsumed(new MessageConsumeContext<WorkflowFailureReported>(_context, report), elapsed, consumerType);
    }

    PendingFault[] TakePending()
    {
        lock (_pending)
        {
            PendingFault[] pending = [.. _pending];
            _pending.Clear();
            return pending;
        }
    }
}
