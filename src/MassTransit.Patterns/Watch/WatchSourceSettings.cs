using System.Text.Json;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Watch;

/// <summary>The options of the watch source of <typeparamref name="TValue"/>, as configured at registration.</summary>
sealed class WatchSourceSettings<TValue>(WatchSourceOptions options)
{
    public WatchSourceOptions Options { get; } = options;
}
