using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// The transport-agnostic knobs of event forwarding: how long one send waits for the broker's
/// confirmation, how often an unconfirmed send is repeated (with the same message id, so the
/// consumer's inbox drops a copy that did arrive), and what a setting that undoes the guarantee does
/// at start-up.
/// </summary>
public sealed class EventForwardingOptions : IPatternOptions
{
    /// <summary>How long one send attempt may wait for the broker's confirmation before it counts as unconfirmed. Default 10 s.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How many times an unconfirmed send is repeated after the first attempt before the sender gives
    /// up with <see cref="MessageNotConfirmedException"/>. Default 3; 0 sends once.
    /// </summary>
    public int ResendLimit { get; set; } = 3;

    /// <summary>The wait before the first resend; it doubles for each further resend, up to <see cref="SendTimeout"/>. Default 500 ms.</summary>
    public TimeSpan ResendInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// What a setting that undoes the guarantee (publisher confirms off, a non-durable queue, a
    /// non-persistent send...) does: fail the bus start (or the send), or only log a warning. Default
    /// <see cref="EventForwardingViolationAction.Fail"/>.
    /// </summary>
    public EventForwardingViolationAction OnViolation { get; set; } = EventForwardingViolationAction.Fail;

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator
        .Positive(SendTimeout, nameof(SendTimeout))
        .InRange(ResendLimit, 0, 100, nameof(ResendLimit))
        .NotNegative(ResendInterval, nameof(ResendInterval))
        .Require(Enum.IsDefined(OnViolation), nameof(OnViolation), $"must be Fail or Warn (was {OnViolation}).");
}
