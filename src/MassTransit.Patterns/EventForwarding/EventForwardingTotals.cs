namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// Running totals of event forwarding in this process since it started, the same counts as the
/// <c>masstransit.patterns.event_forwarding.*</c> counters but readable in place (the operations view shows them). A DI
/// singleton registered by <c>AddEventForwarding</c> (and so by the EF Core outbox registration); counted with
/// <see cref="Interlocked"/>, no allocation per message.
/// </summary>
public sealed class EventForwardingTotals
{
    long _confirmed;
    long _resends;
    long _unconfirmed;
    long _inboxDuplicatesSuppressed;

    internal EventForwardingTotals()
    {
    }

    /// <summary>Sends confirmed by the broker through the event forwarding send policy (producer sends and outbox deliveries).</summary>
    public long Confirmed => Interlocked.Read(ref _confirmed);

    /// <summary>Sends repeated with the same message id because the previous attempt failed or was not confirmed in time.</summary>
    public long Resends => Interlocked.Read(ref _resends);

    /// <summary>Sends given up after every allowed resend, or refused for good (<see cref="MessageNotConfirmedException"/>).</summary>
    public long Unconfirmed => Interlocked.Read(ref _unconfirmed);

    /// <summary>Redelivered or resent messages that an inbox found already consumed and acknowledged without running the consumer again.</summary>
    public long InboxDuplicatesSuppressed => Interlocked.Read(ref _inboxDuplicatesSuppressed);

    internal void CountConfirmed() => Interlocked.Increment(ref _confirmed);

    internal void CountResend() => Interlocked.Increment(ref _resends);

    internal void CountUnconfirmed() => Interlocked.Increment(ref _unconfirmed);

    internal void CountInboxDuplicateSuppressed() => Interlocked.Increment(ref _inboxDuplicatesSuppressed);
}
