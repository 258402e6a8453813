using System.Collections.Concurrent;
using MassTransit.Patterns.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MassTransit.Patterns.Watch;

/// <summary>The options of one watcher registered with <c>AddWatcher</c>.</summary>
sealed class HostedWatcherSettings<TValue>(WatcherOptions options)
{
    public WatcherOptions Options { get; } = options;
}
