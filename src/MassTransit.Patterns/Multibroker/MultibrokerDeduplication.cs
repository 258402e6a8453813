using System.Collections.Concurrent;
using MassTransit.Configuration;

namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Consumer-side deduplication across the brokers of one process. A send that fails over, or is hedged
/// (<see cref="MultibrokerOptions.HedgeDelay"/>), may leave a copy on the broker that did not confirm in
/// time (a hung broker delivers it once it answers again); both copies carry one message id. A broker that
/// dies also redelivers, when it returns, messages consumed whose acknowledgement it never processed.
/// Every consumer
/// (and saga) of every broker's bus in this process claims (message id, endpoint, consumer) before it
/// runs: a second copy is acknowledged without running the consumer; a copy arriving while the first
/// still runs waits for its outcome (a failed first copy lets the second run). Ids are kept
/// <see cref="MultibrokerOptions.DeduplicationWindow"/> after success, and ids of failed-over or hedged copies
/// (header <c>MT-Multibroker-Failover</c>) <see cref="MultibrokerOptions.FailoverDeduplicationWindow"/>,
/// long enough for a dead broker to come back with the other copy.
/// </summary>
sealed class MultibrokerDeduplicator(MultibrokerOptions options, TimeProvider time, MultibrokerMetrics metrics)
{
    readonly ConcurrentDictionary<(Guid Id, string Consumer), Entry> _entries = new();
    readonly ConcurrentQueue<((Guid, string) Key, long Expires)> _recent = new();
    readonly ConcurrentQueue<((Guid, string) Key, long Expires)> _failedOver = new();
    long _suppressed;
    int _calls;

    public long DuplicatesSuppressed => Interlocked.Read(ref _suppressed);

    public int Tracked => _entries.Count;

    sealed class Entry
    {
        public readonly TaskCompletionSource<bool> Running = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long Expires = long.MaxValue;
    }

    /// <summary>Runs <paramref name="consume"/> unless this (id, consumer) was consumed already; returns false for a suppressed copy.</summary>
    public async Task<bool> RunOnceAsync(Guid id, string consumer, bool failedOver, Func<Task> consume)
    {
        if ((Interlocked.Increment(ref _calls) & 255) == 0)
            Sweep();
        var key = (id, consumer);
        while (true)
        {
            var mine = new Entry();
            var existing = _entries.GetOrAdd(key, mine);
            if (!ReferenceEquals(existing, mine))
            {
                if (await existing.Running.Task.ConfigureAwait(false))
                {
                    Interlocked.Increment(ref _suppressed);
                    metrics.DuplicateSuppressed();
                    return false;
                }
                continue; // the other copy failed and released the id: this one runs
            }

            try
            {
                await consume().ConfigureAwait(false);
            }
            catch
            {
                _entries.TryRemove(new KeyValuePair<(Guid, string), Entry>(key, mine));
                mine.Running.TrySetResult(false);
                throw;
            }
            var window = failedOver ? options.FailoverDeduplicationWindow : options.DeduplicationWindow;
            var expires = time.GetTimestamp() + (long)(window.TotalSeconds * time.TimestampFrequency);
            Volatile.Write(ref mine.Expires, expires);
            (failedOver ? _failedOver : _recent).Enqueue((key, expires));
            mine.Running.TrySetResult(true);
            return true;
        }
    }

    /// <summary>Forgets ids whose window has passed.</summary>
    public void Sweep()
    {
        var now = time.GetTimestamp();
        foreach (var queue in new[] { _recent, _failedOver })
            while (queue.TryPeek(out var head) && head.Expires <= now && queue.TryDequeue(out head))
                if (_entries.TryGetValue(head.Key, out var entry) && Volatile.Read(ref entry.Expires) <= now)
                    _entries.TryRemove(new KeyValuePair<(Guid, string), Entry>(head.Key, entry));
    }

    /// <summary>Puts the deduplication filter in front of every consumer and saga message type of a bus.</summary>
    public void Configure(IBusFactoryConfigurator configurator)
    {
        var observer = new Observer(this);
        configurator.ConnectConsumerConfigurationObserver(observer);
        configurator.ConnectSagaConfigurationObserver(observer);
    }

    sealed class Observer(MultibrokerDeduplicator deduplicator) : IConsumerConfigurationObserver, ISagaConfigurationObserver
    {
        public void ConsumerConfigured<TConsumer>(IConsumerConfigurator<TConsumer> configurator)
            where TConsumer : class
        {
        }

        public void ConsumerMessageConfigured<TConsumer, TMessage>(IConsumerMessageConfigurator<TConsumer, TMessage> configurator)
            where TConsumer : class
            where TMessage : class
        {
            if (configurator is IConsumerMessageConfigurator<TMessage> message)
                message.UseFilter(new Filter<TMessage>(deduplicator, typeof(TConsumer).Name));
        }

        public void SagaConfigured<TSaga>(ISagaConfigurator<TSaga> configurator)
            where TSaga : class, ISaga
        {
        }

        public void StateMachineSagaConfigured<TInstance>(ISagaConfigurator<TInstance> configurator, SagaStateMachine<TInstance> stateMachine)
            where TInstance : class, ISaga, SagaStateMachineInstance
        {
        }

        public void SagaMessageConfigured<TSaga, TMessage>(ISagaMessageConfigurator<TSaga, TMessage> configurator)
            where TSaga : class, ISaga
            where TMessage : class
        {
            if (configurator is ISagaMessageConfigurator<TMessage> message)
                message.UseFilter(new Filter<TMessage>(deduplicator, typeof(TSaga).Name));
        }
    }

    sealed class Filter<TMessage>(MultibrokerDeduplicator deduplicator, string consumer) : IFilter<ConsumeContext<TMessage>>
        where TMessage : class
    {
        readonly ConcurrentDictionary<Uri, string> _names = new();

        public async Task Send(ConsumeContext<TMessage> context, IPipe<ConsumeContext<TMessage>> next)
        {
            if (context.MessageId is not { } id)
            {
                await next.Send(context).ConfigureAwait(false);
                return;
            }
            var name = _names.GetOrAdd(context.ReceiveContext.InputAddress, static (address, consumer) =>
            {
                var path = address.AbsolutePath.TrimEnd('/');
                return path[(path.LastIndexOf('/') + 1)..] + "/" + consumer;   // the queue's name: the same on every broker
            }, consumer);
            var failedOver = (context.Headers.Get<int>(MultibrokerBus.FailoverHeader) ?? 0) > 0;
            var ran = await deduplicator.RunOnceAsync(id, name, failedOver, () => next.Send(context)).ConfigureAwait(false);
            if (!ran && context.ReceiveContext is { IsDelivered: false, IsFaulted: false })
                await context.NotifyConsumed(context, TimeSpan.Zero, "multibroker.duplicate").ConfigureAwait(false);
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("multibrokerDeduplication");
    }
}
