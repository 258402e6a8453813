namespace MassTransit.Patterns.Watch;

/// <summary>Starts watchers of <typeparamref name="TValue"/> at run time (several per process share its instance endpoint).</summary>
/// <typeparam name="TValue">The values' type.</typeparam>
public interface IWatcherFactory<TValue>
{
    /// <summary>
    /// Starts a watcher and waits for its first registration, so that it holds the current values when this
    /// returns. Invalid options throw <see cref="Configuration.PatternOptionsException"/> naming the option; a
    /// refusal by the source throws <see cref="WatchRejectedException"/>. The bus must be started.
    /// </summary>
    Task<IWatcher<TValue>> Watch(Action<WatcherOptions> configure, CancellationToken cancellationToken = default);
}
