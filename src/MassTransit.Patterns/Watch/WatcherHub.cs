using System.Collections.Concurrent;
using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Watch;

/// <summary>
/// The watchers of <typeparamref name="TValue"/> in one process: they share the bus's instance endpoint,
/// on which one handler hands each notification to the watcher it names.
/// </summary>
sealed partial class WatcherHub<TValue> : IWatcherFactory<TValue>
{
    readonly IServiceProvider _provider;
    readonly TimeProvider _time;
    readonly ILogger _logger;
    readonly ConcurrentDictionary<Guid, Watcher<TValue>> _watchers = new();
    readonly ConcurrentDictionary<string, IRequestClient<RegisterWatch<TValue>>> _clients = new();
    readonly Lock _lock = new();
    ConnectHandle? _handle;
    Uri? _address;

    public WatcherHub(IServiceProvider provider)
    {
        _provider = provider;
        _time = provider.GetService<TimeProvider>() ?? TimeProvider.System;
        Metrics = provider.GetRequiredService<WatchMetrics>();
        _logger = provider.GetService<ILoggerFactory>()?.CreateLogger("MassTransit.Patterns.Watch.Watcher") ?? NullLogger.Instance;
    }

    IBus Bus => _provider.GetRequiredService<IBus>();

    public WatchMetrics Metrics { get; }

    public Watcher<TValue> Create(WatcherOptions options)
    {
        options.EnsureValid(nameof(WatcherOptions));
        return new Watcher<TValue>(this, options.Copy(), _time, _logger);
    }

    public void Start(Watcher<TValue> watcher)
    {
        Uri address;
        lock (_lock)
        {
            if (_handle is null)
            {
                var bus = Bus;
                _handle = bus.ConnectHandler<WatchChanged<TValue>>(Route);
                _address = bus.Address;
            }
            address = _address!;
        }
        if (!_watchers.TryAdd(watcher.WatcherId, watcher) && !ReferenceEquals(_watchers[watcher.WatcherId], watcher))
            throw new InvalidOperationException($"A watcher with id {watcher.WatcherId} already runs in this process.");
        watcher.Start(address);
    }

    Task Route(ConsumeContext<WatchChanged<TValue>> context)
    {
        if (context.Message.Entry is { } entry && _watchers.TryGetValue(context.Message.WatcherId, out var watcher))
            watcher.Apply(entry, notification: true);
        return Task.CompletedTask;
    }

    public async Task<IWatcher<TValue>> Watch(Action<WatcherOptions> configure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new WatcherOptions();
        configure(options);
        var watcher = Create(options);
        Start(watcher);
        try
        {
            await watcher.Registered.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await watcher.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return watcher;
    }

    public IRequestClient<RegisterWatch<TValue>> RegistrationClient(WatcherOptions options) =>
        _clients.GetOrAdd($"{options.SourceAddress}|{options.RegistrationTimeout.Ticks}", _ =>
            options.SourceAddress is { } address
                ? Bus.CreateRequestClient<RegisterWatch<TValue>>(address, RequestTimeout.After(ms: (int)options.RegistrationTimeout.TotalMilliseconds))
                : Bus.CreateRequestClient<RegisterWatch<TValue>>(RequestTimeout.After(ms: (int)options.RegistrationTimeout.TotalMilliseconds)));

    public async Task CancelAsync(WatcherOptions options, Guid watcherId)
    {
        using var timeout = new CancellationTokenSource(options.RegistrationTimeout);
        var message = new CancelWatch<TValue> { WatcherId = watcherId };
        if (options.SourceAddress is { } address)
            await (await Bus.GetSendEndpoint(address).ConfigureAwait(false)).Send(message, timeout.Token).ConfigureAwait(false);
        else
            await Bus.Publish(message, timeout.Token).ConfigureAwait(false);
    }

    public void Remove(Watcher<TValue> watcher) => _watchers.TryRemove(new KeyValuePair<Guid, Watcher<TValue>>(watcher.WatcherId, watcher));

    /// <summary>The bus stops: every watcher stops renewing, and those that unregister on stop cancel their registration.</summary>
    public async Task StopAllAsync()
    {
        foreach (var watcher in _watchers.Values)
            await watcher.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The bus stopped: a later start connects the handler again.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _handle = null;
            _address = null;
            _clients.Clear();
        }
    }
}
