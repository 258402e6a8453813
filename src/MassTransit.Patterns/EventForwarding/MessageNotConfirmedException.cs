namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// A send was not confirmed by the broker after the first attempt and every resend allowed by
/// <see cref="EventForwardingOptions.ResendLimit"/>. The message may or may not have arrived: send it
/// again later with the same message id (<see cref="MessageId"/>) and the consumer's inbox drops the
/// copy if the first one did arrive.
/// </summary>
public sealed class MessageNotConfirmedException : MassTransitException
{
    /// <summary>Creates the exception.</summary>
    public MessageNotConfirmedException(Guid messageId, int attempts, Exception? lastFailure)
        : base($"Message {messageId} was not confirmed by the broker after {attempts} attempt(s): {lastFailure?.Message ?? "no confirmation"}", lastFailure)
    {
        MessageId = messageId;
        Attempts = attempts;
    }

    /// <summary>The message id every attempt carried.</summary>
    public Guid MessageId { get; }

    /// <summary>How many times the message was sent.</summary>
    public int Attempts { get; }
}
