namespace MassTransit.Patterns.Contextual;

/// <summary>Marks a send counted against an in-memory context queue until it is delivered.</summary>
sealed class RoutedPayload(ContextQueue queue)
{
    int _settled;

    public void Settle(bool delivered)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            return;
        if (delivered)
            Interlocked.Increment(ref queue.Routed);
        Interlocked.Decrement(ref queue.PendingSends);
    }
}
