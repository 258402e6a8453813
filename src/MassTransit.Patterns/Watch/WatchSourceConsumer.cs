using System.Text.Json;
using MassTransit.Patterns.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Watch;

/// <summary>Answers registrations, renewals and cancellations on the source's endpoint.</summary>
/// <typeparam name="TValue">The watched values' type.</typeparam>
public sealed class WatchSourceConsumer<TValue> : IConsumer<RegisterWatch<TValue>>, IConsumer<CancelWatch<TValue>>
{
    readonly WatchSource<TValue> _source;

    /// <summary>Created by the container.</summary>
    public WatchSourceConsumer(IWatchSource<TValue> source) => _source = (WatchSource<TValue>)source;

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<RegisterWatch<TValue>> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var reply = await _source.RegisterAsync(context.Message, context.CancellationToken).ConfigureAwait(false);
        if (reply is WatchRegistered<TValue> registered)
            await context.RespondAsync(registered).ConfigureAwait(false);
        else
            await context.RespondAsync((WatchRejected<TValue>)reply).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task Consume(ConsumeContext<CancelWatch<TValue>> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return _source.CancelAsync(context.Message.WatcherId, context.CancellationToken);
    }
}
