using MassTransit.Testing;

namespace MassTransit.Patterns.Testing;

/// <summary>
/// Reads of a MassTransit test harness's message lists (Consumed, Published, Sent) that cannot hang a test run.
/// </summary>
/// <remarks>
/// Never use the synchronous <c>Select</c>/<c>Select&lt;T&gt;</c> of those lists (nor MassTransit's synchronous
/// <c>Count()</c> extension, which calls it). In MassTransit 8.5 that enumerator holds <c>lock(list)</c> for the
/// whole enumeration, including its <c>finally</c>, where it disposes its registration on the harness's inactivity
/// token. Disposing a registration waits for its callback if the callback is running, and the callback (run by
/// the inactivity timer when it cancels the token) takes the same lock: the test thread and the timer wait on each
/// other for ever. It also blocks up to the test timeout when nothing matches, even inside a polling loop.
/// The async list API below holds no lock while it waits or yields.
/// </remarks>
public static class HarnessMessages
{
    static readonly CancellationToken NoWait = new(canceled: true);

    /// <summary>What the list holds at this moment, without waiting (for polling in <see cref="Eventually"/>).</summary>
    public static Task<List<IReceivedMessage<T>>> Now<T>(this IReceivedMessageList list, FilterDelegate<IReceivedMessage<T>>? filter = null)
        where T : class => list.SelectAsync(filter ?? (_ => true), NoWait).ToListAsync().AsTask();

    /// <inheritdoc cref="Now{T}(IReceivedMessageList, FilterDelegate{IReceivedMessage{T}}?)"/>
    public static Task<List<IPublishedMessage<T>>> Now<T>(this IPublishedMessageList list, FilterDelegate<IPublishedMessage<T>>? filter = null)
        where T : class => list.SelectAsync(filter ?? (_ => true), NoWait).ToListAsync().AsTask();

    /// <inheritdoc cref="Now{T}(IReceivedMessageList, FilterDelegate{IReceivedMessage{T}}?)"/>
    public static Task<List<ISentMessage<T>>> Now<T>(this ISentMessageList list, FilterDelegate<ISentMessage<T>>? filter = null)
        where T : class => list.SelectAsync(filter ?? (_ => true), NoWait).ToListAsync().AsTask();

    /// <summary>
    /// Every match once the harness has gone quiet: waits for the harness's inactivity (bounded by its test timeout)
    /// collecting matches as they arrive, as the synchronous Select did, without its lock.
    /// </summary>
    public static Task<List<IReceivedMessage<T>>> Settled<T>(this IReceivedMessageList list, FilterDelegate<IReceivedMessage<T>>? filter = null)
        where T : class => list.SelectAsync(filter ?? (_ => true)).ToListAsync().AsTask();

    /// <inheritdoc cref="Settled{T}(IReceivedMessageList, FilterDelegate{IReceivedMessage{T}}?)"/>
    public static Task<List<IPublishedMessage<T>>> Settled<T>(this IPublishedMessageList list, FilterDelegate<IPublishedMessage<T>>? filter = null)
        where T : class => list.SelectAsync(filter ?? (_ => true)).ToListAsync().AsTask();

    /// <inheritdoc cref="Settled{T}(IReceivedMessageList, FilterDelegate{IReceivedMessage{T}}?)"/>
    public static Task<List<ISentMessage<T>>> Settled<T>(this ISentMessageList list, FilterDelegate<ISentMessage<T>>? filter = null)
        where T : class => list.SelectAsync(filter ?? (_ => true)).ToListAsync().AsTask();
}
