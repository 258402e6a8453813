namespace MassTransit.Patterns.Multibroker;

/// <summary>
/// Thrown when no broker confirmed a message: every broker tried failed, or no attempt could be made
/// at all (no broker's bus had started; <see cref="Attempts"/> is 0 and nothing was sent). The message
/// names each broker with its state, why it is out of rotation and when it is tried next.
/// </summary>
public sealed class MultibrokerSendException(int attempts, IReadOnlyList<string> brokers, Exception? innerException)
    : MassTransitException(MessageOf(attempts, brokers), innerException)
{
    /// <summary>Attempts made (hedges included); 0 when no broker could be tried, and nothing was sent.</summary>
    public int Attempts { get; } = attempts;

    /// <summary>Each broker with its state when the send gave up.</summary>
    public IReadOnlyList<string> Brokers { get; } = brokers;

    static string MessageOf(int attempts, IReadOnlyList<string> brokers) =>
        attempts == 0
            ? $"No attempt was made: no broker's bus is started ({string.Join("; ", brokers)}). Nothing was sent: send the message again later."
            : $"No broker confirmed the message after {attempts} attempt(s) ({string.Join("; ", brokers)}). " +
              "It may still have reached a broker that failed before confirming: send it again with the same message id.";
}
