using MassTransit.Context;
using MassTransit.Metadata;
using MassTransit.Middleware;
using MassTransit.Serialization;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>Turns a captured send into an outbox row, and a row back into what MassTransit's outbox send pipe delivers.</summary>
static class OutboxRows
{
    static IObjectDeserializer Serializer => SystemTextJsonMessageSerializer.Instance;

    public static OutboxEntry Create<T>(SendContext<T> context, Guid outboxId, int position, Guid? inboxMessageId, Guid? inboxConsumerId)
        where T : class
    {
        if (context.MessageId is not { } messageId)
            throw new MessageException(typeof(T), "A message sent through the outbox needs a message id.");

        var now = DateTime.UtcNow;
        var body = context.Serializer.GetMessageBody(context);
        var row = new OutboxEntry
        {
            OutboxId = outboxId,
            Position = position,
            InboxMessageId = inboxMessageId,
            InboxConsumerId = inboxConsumerId,
            MessageId = messageId,
            ConversationId = context.ConversationId,
            CorrelationId = context.CorrelationId,
            InitiatorId = context.InitiatorId,
            RequestId = context.RequestId,
            SourceAddress = context.SourceAddress,
            DestinationAddress = context.DestinationAddress,
            ResponseAddress = context.ResponseAddress,
            FaultAddress = context.FaultAddress,
            SentTime = Utc(context.SentTime ?? now),
            ContentType = context.ContentType?.ToString() ?? context.Serialization.DefaultContentType.ToString(),
            MessageType = string.Join(";", context.SupportedMessageTypes),
            Body = body.GetString(),
            Headers = Serializer.SerializeDictionary(context.Headers.GetAll())
        };
        if (context.TimeToLive is { } timeToLive)
            row.ExpirationTime = now + timeToLive;
        if (context.Delay is { } delay && delay > TimeSpan.Zero)
            row.EnqueueTime = now + delay;
        if (context is TransportSendContext<T> transport)
        {
            var properties = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
            transport.WritePropertiesTo(properties);
            row.Properties = Serializer.SerializeDictionary(properties);
        }
        return row;
    }

    static DateTime Utc(DateTime value) => value.Kind switch
    {
        DateTimeKind.Utc => value,
        DateTimeKind.Local => value.ToUniversalTime(),
        _ => DateTime.SpecifyKind(value, DateTimeKind.Utc)
    };

    /// <summary>A stored row as the <see cref="OutboxMessageContext"/> that <see cref="OutboxMessageSendPipe"/> delivers.</summary>
    public sealed class Delivery : OutboxMessageContext
    {
        static readonly IReadOnlyDictionary<string, object> NoProperties = new Dictionary<string, object>();

        readonly OutboxEntry _row;

        public Delivery(OutboxEntry row)
        {
            _row = row;
            var headers = Serializer.DeserializeDictionary<object?>(row.Headers);
            Headers = headers is null ? EmptyHeaders.Instance : new DictionarySendHeaders(headers);
            Properties = Serializer.DeserializeDictionary<object>(row.Properties) ?? NoProperties;
        }

        public OutboxEntry Row => _row;

        public long SequenceNumber => _row.SequenceNumber;

        public Guid MessageId => _row.MessageId;

        public string ContentType => _row.ContentType;

        public string MessageType => _row.MessageType;

        public string Body => _row.Body;

        public IReadOnlyDictionary<string, object> Properties { get; }

        public Headers Headers { get; }

        Guid? MessageContext.MessageId => _row.MessageId;

        public Guid? RequestId => _row.RequestId;

        public Guid? CorrelationId => _row.CorrelationId;

        public Guid? ConversationId => _row.ConversationId;

        public Guid? InitiatorId => _row.InitiatorId;

        public DateTime? ExpirationTime => _row.ExpirationTime;

        public Uri? SourceAddress => _row.SourceAddress;

        public Uri? DestinationAddress => _row.DestinationAddress;

        public Uri? ResponseAddress => _row.ResponseAddress;

        public Uri? FaultAddress => _row.FaultAddress;

        public DateTime? SentTime => _row.SentTime;

        public HostInfo Host => HostMetadataCache.Host;
    }

    /// <summary>MassTransit's outbox send pipe, plus the remaining delay of a delayed send.</summary>
    public sealed class DeliveryPipe(Delivery delivery) : IPipe<SendContext>
    {
        readonly OutboxMessageSendPipe _inner = new(delivery, delivery.DestinationAddress);

        public async Task Send(SendContext context)
        {
            await _inner.Send(context).ConfigureAwait(false);
            if (delivery.Row.EnqueueTime is { } enqueue && enqueue > DateTime.UtcNow)
                context.Delay = enqueue - DateTime.UtcNow;
        }

        public void Probe(ProbeContext context) => _inner.Probe(context);
    }
}
