using System.Collections.Concurrent;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Transports;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.RabbitMQ.EventForwarding;

/// <summary>
/// The last look at every send and publish before it goes to the broker (an observer's
/// <c>PreSend</c>/<c>PrePublish</c> runs after every pipe): a message that is not persistent or whose
/// send does not await the broker's confirmation breaks the guarantee and is refused (or logged, with
/// <see cref="EventForwardingViolationAction.Warn"/>); a send (not a publish, not delayed) is marked
/// mandatory so that an exchange with no queue bound returns it instead of dropping it.
/// </summary>
sealed class RabbitMqSendGuard(RabbitMqEventForwardingOptions rabbit, EventForwardingOptions options, ILogger logger, EventForwardingMetrics metrics,
    Func<IBusInstance?> busInstance)
    : ISendObserver, IPublishObserver
{
    readonly ConcurrentDictionary<(Type, string), bool> _reported = new();
    const string MessageUrnPrefix = "urn:message:";
    readonly ConcurrentDictionary<Type, string?> _publishExchanges = new();

    public Task PreSend<T>(SendContext<T> context)
        where T : class
    {
        if (context is not RabbitMqSendContext rabbitContext)
            return Task.CompletedTask;
        Verify(context, rabbitContext);
        if (rabbit.MandatorySends && !rabbitContext.Mandatory && context.Delay is not { TotalMilliseconds: > 0 } && !IsPublish(context, rabbitContext))
            rabbitContext.Mandatory = true;
        return Task.CompletedTask;
    }

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class
    {
        if (context is RabbitMqSendContext rabbitContext)
            Verify(context, rabbitContext);
        return Task.CompletedTask;
    }

    void Verify<T>(SendContext<T> context, RabbitMqSendContext rabbitContext)
        where T : class
    {
        List<EventForwardingViolation>? violations = null;
        if (!rabbitContext.Durable)
            (violations ??= []).Add(new($"send of {typeof(T).Name}: Durable = false", $"the message to {context.DestinationAddress} is not persistent: a broker restart loses it."));
        if (!rabbitContext.AwaitAck)
            (violations ??= []).Add(new($"send of {typeof(T).Name}: AwaitAck = false", $"the send to {context.DestinationAddress} returns before the broker confirmed it."));

        if (violations is not null)
        {
            if (options.OnViolation == EventForwardingViolationAction.Fail)
                EventForwardingStartupCheck.Report(violations, options, logger, metrics, "send");
            else if (violations.Any(v => _reported.TryAdd((typeof(T), v.Setting), true)))
                EventForwardingStartupCheck.Report(violations, options, logger, metrics, "send");
        }
    }

    /// <summary>
    /// A publish goes to the exchange named after its message type (also when an outbox delivers it
    /// later as a serialized send, whose supported message types still name it), or to the exchange
    /// the publish topology gives the type.
    /// </summary>
    bool IsPublish<T>(SendContext<T> context, RabbitMqSendContext rabbitContext)
        where T : class
    {
        var exchange = rabbitContext.Exchange;
        if (string.IsNullOrEmpty(exchange))
            return false;
        foreach (var urn in context.SupportedMessageTypes ?? [])
            if (urn.StartsWith(MessageUrnPrefix, StringComparison.Ordinal) && string.Equals(urn[MessageUrnPrefix.Length..], exchange, StringComparison.Ordinal))
                return true;

        var publishExchange = _publishExchanges.GetOrAdd(typeof(T), _ =>
        {
            var instance = busInstance();
            if (instance is null)
                return null;
            return instance.Bus.Topology.PublishTopology.GetMessageTopology<T>().TryGetPublishAddress(instance.HostConfiguration.HostAddress, out var address)
                ? address.AbsolutePath.TrimEnd('/').Split('/')[^1]
                : null;
        });
        return string.Equals(publishExchange, exchange, StringComparison.Ordinal);
    }

    public Task PostSend<T>(SendContext<T> context)
        where T : class =>
        Task.CompletedTask;

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class =>
        Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class =>
        Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class =>
        Task.CompletedTask;
}
